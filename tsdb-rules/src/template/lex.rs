//! Go's `text/template` lexer (`text/template/parse/lex.go`): text and actions between
//! `{{` and `}}`, the trim markers `{{- ` and ` -}}`, comments `{{/* */}}`, and the
//! tokens inside an action.

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// Plain text outside actions (already trimmed by neighbouring trim markers).
    Text,
    LeftDelim,
    RightDelim,
    Space,
    /// `=`
    Assign,
    /// `:=`
    Declare,
    Pipe,
    LeftParen,
    RightParen,
    /// A printable ASCII character with no other meaning (Go: `itemChar`), e.g. `,`.
    Char,
    /// A quoted string, with its quotes (`"…"` or `` `…` ``).
    Str,
    /// A character constant `'a'`, with its quotes.
    CharConst,
    Number,
    Bool,
    /// `.Name`
    Field,
    /// `$` or `$name`
    Variable,
    /// `.`
    Dot,
    Nil,
    Identifier,
    /// A keyword: `if`, `else`, `end`, `range`, `with`, `define`, `template`, `block`,
    /// `break`, `continue`.
    Keyword,
}

/// A token: its kind, text and byte offset in the input.
#[derive(Debug, Clone)]
pub(super) struct Token {
    pub kind: Kind,
    pub val: String,
    pub pos: usize,
}

/// A lexing error: the byte offset and Go's message.
#[derive(Debug)]
pub(super) struct LexError {
    pub pos: usize,
    pub message: String,
}

const KEYWORDS: &[&str] = &[
    "block", "break", "continue", "define", "else", "end", "if", "range", "template", "with",
];

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn has_left_trim(s: &[u8]) -> bool {
    s.len() >= 2 && s[0] == b'-' && is_space(s[1])
}

fn has_right_trim(s: &[u8]) -> bool {
    s.len() >= 2 && is_space(s[0]) && s[1] == b'-'
}

/// Splits `input` into tokens, as Go's lexer does.
pub(super) fn lex(input: &str) -> Result<Vec<Token>, LexError> {
    let b = input.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0usize;
    // Text state.
    loop {
        let start = pos;
        let rel = input[pos..].find("{{");
        let Some(rel) = rel else {
            if pos < b.len() {
                out.push(Token {
                    kind: Kind::Text,
                    val: input[pos..].to_string(),
                    pos,
                });
            }
            return Ok(out);
        };
        let delim = pos + rel;
        let mut text_end = delim;
        if has_left_trim(&b[delim + 2..]) {
            while text_end > start && is_space(b[text_end - 1]) {
                text_end -= 1;
            }
        }
        if text_end > start {
            out.push(Token {
                kind: Kind::Text,
                val: input[start..text_end].to_string(),
                pos: start,
            });
        }
        pos = delim + 2;
        let trim = has_left_trim(&b[pos..]);
        let after_marker = if trim { 2 } else { 0 };
        if input[pos + after_marker..].starts_with("/*") {
            // Comment.
            pos += after_marker + 2;
            let Some(x) = input[pos..].find("*/") else {
                return Err(LexError {
                    pos: delim,
                    message: "unclosed comment".into(),
                });
            };
            pos += x + 2;
            let (is_delim, trim_right) = at_right_delim(b, pos);
            if !is_delim {
                return Err(LexError {
                    pos: delim,
                    message: "comment ends before closing delimiter".into(),
                });
            }
            pos += 2 + if trim_right { 2 } else { 0 };
            if trim_right {
                while pos < b.len() && is_space(b[pos]) {
                    pos += 1;
                }
            }
            continue;
        }
        out.push(Token {
            kind: Kind::LeftDelim,
            val: "{{".into(),
            pos: delim,
        });
        pos += after_marker;
        pos = lex_action(input, pos, &mut out)?;
    }
}

fn at_right_delim(b: &[u8], pos: usize) -> (bool, bool) {
    if has_right_trim(&b[pos..]) && b[pos + 2..].starts_with(b"}}") {
        return (true, true);
    }
    if b[pos..].starts_with(b"}}") {
        return (true, false);
    }
    (false, false)
}

/// Lexes inside an action from `pos`; returns the position after its right delimiter
/// (and after any whitespace a right trim marker removes).
fn lex_action(input: &str, mut pos: usize, out: &mut Vec<Token>) -> Result<usize, LexError> {
    let b = input.as_bytes();
    let mut paren_depth = 0usize;
    let err = |pos: usize, message: String| LexError { pos, message };
    loop {
        let (is_delim, trim) = at_right_delim(b, pos);
        if is_delim {
            if paren_depth != 0 {
                return Err(err(pos, "unclosed left paren".into()));
            }
            out.push(Token {
                kind: Kind::RightDelim,
                val: "}}".into(),
                pos: pos + if trim { 2 } else { 0 },
            });
            pos += 2 + if trim { 2 } else { 0 };
            if trim {
                while pos < b.len() && is_space(b[pos]) {
                    pos += 1;
                }
            }
            return Ok(pos);
        }
        let Some(c) = input[pos..].chars().next() else {
            return Err(err(pos, "unclosed action".into()));
        };
        let start = pos;
        let push = |kind: Kind, end: usize, out: &mut Vec<Token>| {
            out.push(Token {
                kind,
                val: input[start..end].to_string(),
                pos: start,
            })
        };
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                let mut end = pos;
                while end < b.len() && is_space(b[end]) {
                    // Stop before " -}}" so the trim marker is seen.
                    if has_right_trim(&b[end..]) && b[end + 2..].starts_with(b"}}") {
                        break;
                    }
                    end += 1;
                }
                push(Kind::Space, end, out);
                pos = end;
            }
            '=' => {
                push(Kind::Assign, pos + 1, out);
                pos += 1;
            }
            ':' => {
                if b.get(pos + 1) != Some(&b'=') {
                    return Err(err(pos, "expected :=".into()));
                }
                push(Kind::Declare, pos + 2, out);
                pos += 2;
            }
            '|' => {
                push(Kind::Pipe, pos + 1, out);
                pos += 1;
            }
            '"' => {
                let mut i = pos + 1;
                loop {
                    match b.get(i) {
                        None | Some(b'\n') => {
                            return Err(err(pos, "unterminated quoted string".into()))
                        }
                        Some(b'\\') => {
                            if matches!(b.get(i + 1), None | Some(b'\n')) {
                                return Err(err(pos, "unterminated quoted string".into()));
                            }
                            i += 2;
                        }
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                push(Kind::Str, i + 1, out);
                pos = i + 1;
            }
            '`' => {
                let Some(x) = input[pos + 1..].find('`') else {
                    return Err(err(pos, "unterminated raw quoted string".into()));
                };
                push(Kind::Str, pos + 1 + x + 1, out);
                pos += x + 2;
            }
            '\'' => {
                let mut i = pos + 1;
                loop {
                    match b.get(i) {
                        None | Some(b'\n') => {
                            return Err(err(pos, "unterminated character constant".into()))
                        }
                        Some(b'\\') => i += 2,
                        Some(b'\'') => break,
                        Some(_) => i += 1,
                    }
                }
                push(Kind::CharConst, i + 1, out);
                pos = i + 1;
            }
            '$' => {
                let end = scan_alnum(input, pos + 1);
                check_terminator(input, end)?;
                push(Kind::Variable, end, out);
                pos = end;
            }
            '.' => {
                if b.get(pos + 1).is_some_and(|c| c.is_ascii_digit()) {
                    pos = lex_number(input, pos, out)?;
                } else {
                    let end = scan_alnum(input, pos + 1);
                    if end == pos + 1 {
                        push(Kind::Dot, end, out);
                    } else {
                        check_terminator(input, end)?;
                        push(Kind::Field, end, out);
                    }
                    pos = end;
                }
            }
            '+' | '-' | '0'..='9' => pos = lex_number(input, pos, out)?,
            '(' => {
                paren_depth += 1;
                push(Kind::LeftParen, pos + 1, out);
                pos += 1;
            }
            ')' => {
                if paren_depth == 0 {
                    return Err(err(pos, "unexpected right paren".into()));
                }
                paren_depth -= 1;
                push(Kind::RightParen, pos + 1, out);
                pos += 1;
            }
            c if is_alnum(c) => {
                let end = scan_alnum(input, pos);
                check_terminator(input, end)?;
                let word = &input[pos..end];
                let kind = if KEYWORDS.contains(&word) {
                    Kind::Keyword
                } else if word == "true" || word == "false" {
                    Kind::Bool
                } else if word == "nil" {
                    Kind::Nil
                } else {
                    Kind::Identifier
                };
                push(kind, end, out);
                pos = end;
            }
            c if c.is_ascii() && !c.is_ascii_control() => {
                push(Kind::Char, pos + 1, out);
                pos += 1;
            }
            c => {
                return Err(err(
                    pos,
                    format!("unrecognized character in action: {}", go_rune(c)),
                ))
            }
        }
    }
}

/// Go's `%#U`: `U+00A0 ' '`-style, printable characters quoted.
pub(super) fn go_rune(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{c}'", c as u32)
    }
}

fn scan_alnum(input: &str, from: usize) -> usize {
    let mut end = from;
    for c in input[from..].chars() {
        if is_alnum(c) {
            end += c.len_utf8();
        } else {
            break;
        }
    }
    end
}

/// Go's `atTerminator`: what may follow an identifier, field or variable.
fn check_terminator(input: &str, end: usize) -> Result<(), LexError> {
    let rest = &input[end..];
    let Some(c) = rest.chars().next() else {
        return Ok(());
    };
    if matches!(
        c,
        ' ' | '\t' | '\r' | '\n' | '.' | ',' | '|' | ':' | ')' | '('
    ) || rest.starts_with("}}")
    {
        return Ok(());
    }
    Err(LexError {
        pos: end,
        message: format!("bad character {}", go_rune(c)),
    })
}

fn lex_number(input: &str, pos: usize, out: &mut Vec<Token>) -> Result<usize, LexError> {
    let b = input.as_bytes();
    let mut i = pos;
    if matches!(b.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let mut digits: &[u8] = b"0123456789_";
    let mut exp: &[u8] = b"eE";
    if b.get(i) == Some(&b'0') && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        digits = b"0123456789abcdefABCDEF_";
        exp = b"pP";
    } else if b.get(i) == Some(&b'0') && matches!(b.get(i + 1), Some(b'o' | b'O')) {
        i += 2;
        digits = b"01234567_";
        exp = b"";
    } else if b.get(i) == Some(&b'0') && matches!(b.get(i + 1), Some(b'b' | b'B')) {
        i += 2;
        digits = b"01_";
        exp = b"";
    }
    let run = |i: &mut usize, set: &[u8]| {
        while b.get(*i).is_some_and(|c| set.contains(c)) {
            *i += 1;
        }
    };
    run(&mut i, digits);
    if b.get(i) == Some(&b'.') {
        i += 1;
        run(&mut i, digits);
    }
    if !exp.is_empty() && b.get(i).is_some_and(|c| exp.contains(c)) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        run(&mut i, b"0123456789_");
    }
    if b.get(i) == Some(&b'i') {
        i += 1;
    }
    let next = input[i..].chars().next();
    if i == pos || next.is_some_and(is_alnum) || &input[pos..i] == "+" || &input[pos..i] == "-" {
        let mut end = i;
        if let Some(c) = next.filter(|c| is_alnum(*c)) {
            end += c.len_utf8();
        }
        return Err(LexError {
            pos,
            message: format!("bad number syntax: \"{}\"", &input[pos..end]),
        });
    }
    out.push(Token {
        kind: Kind::Number,
        val: input[pos..i].to_string(),
        pos,
    });
    Ok(i)
}
