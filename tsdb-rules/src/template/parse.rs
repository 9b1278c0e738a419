//! Go's `text/template` parser (`text/template/parse/parse.go`): the tree of text, actions
//! and control structures, with the checks Go makes at parse time (defined functions,
//! declared variables, `break`/`continue` inside `range`, executable pipeline stages).

use super::funcs;
use super::lex::{self, Kind, Token};

/// A node's place in the template text, as Go reports it: 1-based line and 0-based byte
/// column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub line: usize,
    pub col: usize,
}

/// A sequence of nodes.
pub(super) type List = Vec<Node>;

#[derive(Debug, Clone)]
pub(super) enum Node {
    Text(String),
    Action(Pipe),
    If(Control),
    With(Control),
    Range(Control),
    Break,
    Continue,
}

/// `if`, `with` or `range`: the pipeline, the body and the `else` part (an `else if` is an
/// `if` alone in the else list, as Go builds it).
#[derive(Debug, Clone)]
pub(super) struct Control {
    pub pipe: Pipe,
    pub list: List,
    pub else_list: Option<List>,
}

#[derive(Debug, Clone)]
pub(super) struct Pipe {
    pub pos: Pos,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub(super) struct Command {
    pub pos: Pos,
    pub args: Vec<Arg>,
}

/// A number constant with what Go's `NumberNode` knows about it.
#[derive(Debug, Clone)]
pub(super) struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub float: Option<f64>,
}

impl Number {
    /// Go's `idealConstant`: a float if written like one, else an int.
    pub fn is_float_syntax(&self) -> bool {
        let t = self.text.to_ascii_lowercase();
        let hex = t.trim_start_matches(['+', '-']).starts_with("0x");
        if self.text.starts_with('\'') {
            return false;
        }
        if hex {
            t.contains('p') || t.contains('.')
        } else {
            t.contains(['.', 'e', 'p'])
        }
    }
}

#[derive(Debug, Clone)]
pub(super) enum Arg {
    Dot(Pos),
    Nil(Pos),
    Bool(Pos, bool),
    Number(Pos, Number),
    /// The string as written (quoted) and its value.
    Str(Pos, String, String),
    /// `.A.B` as its names.
    Field(Pos, Vec<String>),
    /// `$x.A.B`: the variable name (with `$`) then the field names.
    Variable(Pos, Vec<String>),
    Ident(Pos, String),
    Pipe(Pos, Box<Pipe>),
    /// `(pipeline).A.B` and the like.
    Chain(Pos, Box<Arg>, Vec<String>),
}

impl Arg {
    pub fn pos(&self) -> Pos {
        match self {
            Arg::Dot(p)
            | Arg::Nil(p)
            | Arg::Bool(p, _)
            | Arg::Number(p, _)
            | Arg::Str(p, _, _)
            | Arg::Field(p, _)
            | Arg::Variable(p, _)
            | Arg::Ident(p, _)
            | Arg::Pipe(p, _)
            | Arg::Chain(p, _, _) => *p,
        }
    }
}

impl std::fmt::Display for Arg {
    /// Go's `Node.String()`, used in error messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arg::Dot(_) => f.write_str("."),
            Arg::Nil(_) => f.write_str("nil"),
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Number(_, n) => f.write_str(&n.text),
            Arg::Str(_, q, _) => f.write_str(q),
            Arg::Field(_, names) => {
                for n in names {
                    write!(f, ".{n}")?;
                }
                Ok(())
            }
            Arg::Variable(_, names) => f.write_str(&names.join(".")),
            Arg::Ident(_, name) => f.write_str(name),
            Arg::Pipe(_, p) => write!(f, "({p})"),
            Arg::Chain(_, node, fields) => {
                match node.as_ref() {
                    Arg::Pipe(_, p) => write!(f, "({p})")?,
                    other => write!(f, "{other}")?,
                }
                for n in fields {
                    write!(f, ".{n}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// A parse error: 1-based line and Go's message.
#[derive(Debug)]
pub(super) struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Parses a whole template.
pub(super) fn parse(text: &str) -> Result<List, ParseError> {
    let tokens = lex::lex(text).map_err(|e| ParseError {
        line: line_of(text, e.pos),
        message: e.message,
    })?;
    let mut p = Parser {
        text,
        tokens,
        i: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        depth: 0,
    };
    let mut root = Vec::new();
    while p.i < p.tokens.len() {
        match p.text_or_action()? {
            Item::Node(n) => root.push(n),
            Item::End(pos) => return Err(p.err_at(pos, "unexpected {{end}}".into())),
            Item::Else(pos, _) => return Err(p.err_at(pos, "unexpected {{else}}".into())),
        }
    }
    Ok(root)
}

fn line_of(text: &str, pos: usize) -> usize {
    1 + text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|c| **c == b'\n')
        .count()
}

enum Item {
    Node(Node),
    End(usize),
    /// `{{else}}`, or `{{else if …}}`/`{{else with …}}` with the keyword left unread.
    Else(usize, Option<String>),
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    /// Nesting of control structures and parentheses, bounded so that no template can
    /// exhaust the stack of the recursive parser (or of the evaluator after it).
    depth: usize,
}

/// The deepest nesting of `if`/`with`/`range` and parentheses accepted. Go allows more
/// (its stacks grow); templates in rule files nest a few levels.
const MAX_DEPTH: usize = 100;

impl Parser<'_> {
    fn pos(&self, byte: usize) -> Pos {
        let before = &self.text.as_bytes()[..byte.min(self.text.len())];
        let line = 1 + before.iter().filter(|c| **c == b'\n').count();
        let col = match before.iter().rposition(|c| *c == b'\n') {
            Some(nl) => byte - (nl + 1),
            None => byte,
        };
        Pos { line, col }
    }

    fn err_at(&self, byte: usize, message: String) -> ParseError {
        ParseError {
            line: line_of(self.text, byte),
            message,
        }
    }

    fn eof_pos(&self) -> usize {
        self.text.len()
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.i)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.i).cloned();
        self.i += 1;
        t
    }

    fn next_non_space(&mut self) -> Option<Token> {
        loop {
            let t = self.next()?;
            if t.kind != Kind::Space {
                return Some(t);
            }
        }
    }

    fn peek_non_space(&mut self) -> Option<Token> {
        let t = self.next_non_space();
        self.i -= 1;
        t
    }

    /// Go's `item.String()` for messages.
    fn describe(t: &Option<Token>) -> String {
        match t {
            None => "EOF".into(),
            Some(t) if t.kind == Kind::Keyword => format!("<{}>", t.val),
            Some(t) if t.val.chars().count() > 10 => {
                let short: String = t.val.chars().take(10).collect();
                format!("{}...", go_quote(&short))
            }
            Some(t) => go_quote(&t.val),
        }
    }

    fn unexpected(&self, t: &Option<Token>, context: &str) -> ParseError {
        let at = t.as_ref().map_or(self.eof_pos(), |t| t.pos);
        self.err_at(at, format!("unexpected {} in {context}", Self::describe(t)))
    }

    fn text_or_action(&mut self) -> Result<Item, ParseError> {
        let Some(t) = self.next_non_space() else {
            return Err(self.err_at(self.eof_pos(), "unexpected EOF".into()));
        };
        match t.kind {
            Kind::Text => Ok(Item::Node(Node::Text(t.val))),
            Kind::LeftDelim => self.action(),
            _ => Err(self.unexpected(&Some(t), "input")),
        }
    }

    fn action(&mut self) -> Result<Item, ParseError> {
        let t = self.next_non_space();
        if let Some(tok) = &t {
            if tok.kind == Kind::Keyword {
                let pos = tok.pos;
                return match tok.val.as_str() {
                    "if" => Ok(Item::Node(Node::If(self.control("if")?))),
                    "with" => Ok(Item::Node(Node::With(self.control("with")?))),
                    "range" => Ok(Item::Node(Node::Range(self.control("range")?))),
                    "end" => {
                        self.expect_right_delim("end")?;
                        Ok(Item::End(pos))
                    }
                    "else" => {
                        let peek = self.peek_non_space();
                        if let Some(p) = peek.filter(|p| {
                            p.kind == Kind::Keyword && (p.val == "if" || p.val == "with")
                        }) {
                            return Ok(Item::Else(pos, Some(p.val)));
                        }
                        self.expect_right_delim("else")?;
                        Ok(Item::Else(pos, None))
                    }
                    "break" | "continue" => {
                        let what = tok.val.clone();
                        let n = self.next_non_space();
                        if !matches!(&n, Some(n) if n.kind == Kind::RightDelim) {
                            return Err(self.unexpected(&n, &format!("{{{{{what}}}}}")));
                        }
                        if self.range_depth == 0 {
                            return Err(
                                self.err_at(pos, format!("{{{{{what}}}}} outside {{{{range}}}}"))
                            );
                        }
                        Ok(Item::Node(if what == "break" {
                            Node::Break
                        } else {
                            Node::Continue
                        }))
                    }
                    other => Err(self.err_at(
                        pos,
                        format!("{{{{{other}}}}} is not supported in alert templates"),
                    )),
                };
            }
        }
        self.i -= 1;
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Item::Node(Node::Action(pipe)))
    }

    fn expect_right_delim(&mut self, context: &str) -> Result<(), ParseError> {
        let t = self.next_non_space();
        match &t {
            Some(t) if t.kind == Kind::RightDelim => Ok(()),
            _ => Err(self.unexpected(&t, context)),
        }
    }

    /// Parses one of `if`/`with`/`range` after its keyword, up to and including `{{end}}`.
    fn control(&mut self, context: &str) -> Result<Control, ParseError> {
        self.enter()?;
        let c = self.control_inner(context);
        self.depth -= 1;
        c
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let at = self
                .tokens
                .get(self.i.saturating_sub(1))
                .map_or(0, |t| t.pos);
            self.depth -= 1;
            return Err(self.err_at(at, "max expression depth exceeded".into()));
        }
        Ok(())
    }

    fn control_inner(&mut self, context: &str) -> Result<Control, ParseError> {
        let saved_vars = self.vars.len();
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, term) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let Item::Else(_, kw) = term {
            match kw {
                Some(kw) if context != "range" && kw == context => {
                    // `else if` / `else with`: a nested control needing only one {{end}}.
                    self.next_non_space();
                    let inner = self.control(context)?;
                    else_list = Some(vec![if context == "if" {
                        Node::If(inner)
                    } else {
                        Node::With(inner)
                    }]);
                }
                Some(kw) => {
                    let at = self.peek_non_space().map_or(self.eof_pos(), |t| t.pos);
                    return Err(self.err_at(at, format!("unexpected <{kw}> in else")));
                }
                None => {
                    let (l, term2) = self.item_list()?;
                    match term2 {
                        Item::End(_) => {}
                        Item::Else(pos, _) => {
                            return Err(self.err_at(pos, "expected end; found {{else}}".into()))
                        }
                        Item::Node(_) => {}
                    }
                    else_list = Some(l);
                }
            }
        }
        self.vars.truncate(saved_vars);
        Ok(Control {
            pipe,
            list,
            else_list,
        })
    }

    /// Nodes up to `{{end}}` or `{{else}}`.
    fn item_list(&mut self) -> Result<(List, Item), ParseError> {
        let mut list = Vec::new();
        loop {
            if self.peek_non_space().is_none() {
                return Err(self.err_at(self.eof_pos(), "unexpected EOF".into()));
            }
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                other => return Ok((list, other)),
            }
        }
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> Result<Pipe, ParseError> {
        let start = self.peek_non_space().map_or(self.eof_pos(), |t| t.pos);
        let mut pipe = Pipe {
            pos: self.pos(start),
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        // Declarations.
        while let Some(v) = self.peek_non_space().filter(|t| t.kind == Kind::Variable) {
            let save = self.i;
            self.next_non_space();
            let next = self.peek_non_space();
            match next {
                Some(n) if n.kind == Kind::Assign || n.kind == Kind::Declare => {
                    pipe.is_assign = n.kind == Kind::Assign;
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    break;
                }
                Some(n) if n.kind == Kind::Char && n.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    if context == "range" && pipe.decl.len() < 2 {
                        let p = self.peek_non_space();
                        if matches!(&p, Some(p) if matches!(p.kind, Kind::Variable | Kind::RightDelim | Kind::RightParen))
                        {
                            continue;
                        }
                        return Err(
                            self.err_at(v.pos, "range can only initialize variables".into())
                        );
                    }
                    return Err(self.err_at(v.pos, format!("too many declarations in {context}")));
                }
                _ => {
                    self.i = save;
                    break;
                }
            }
        }
        loop {
            let t = self.next_non_space();
            match &t {
                Some(tok) if tok.kind == end => {
                    self.check_pipeline(&pipe, context, tok.pos)?;
                    return Ok(pipe);
                }
                Some(tok)
                    if matches!(
                        tok.kind,
                        Kind::Bool
                            | Kind::CharConst
                            | Kind::Dot
                            | Kind::Field
                            | Kind::Identifier
                            | Kind::Number
                            | Kind::Nil
                            | Kind::Str
                            | Kind::Variable
                            | Kind::LeftParen
                    ) =>
                {
                    self.i -= 1;
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&t, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str, at: usize) -> Result<(), ParseError> {
        if pipe.cmds.is_empty() {
            return Err(self.err_at(at, format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if let Some(
                Arg::Bool(..) | Arg::Dot(..) | Arg::Nil(..) | Arg::Number(..) | Arg::Str(..),
            ) = c.args.first()
            {
                return Err(self.err_at(
                    at,
                    format!("non executable command in pipeline stage {}", i + 1),
                ));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        let start = self.peek_non_space().map_or(self.eof_pos(), |t| t.pos);
        let mut cmd = Command {
            pos: self.pos(start),
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            while self.peek().is_some_and(|t| t.kind == Kind::Space) {
                self.i += 1;
            }
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let t = self.next();
            match &t {
                Some(tok) if tok.kind == Kind::Space => continue,
                Some(tok) if matches!(tok.kind, Kind::RightDelim | Kind::RightParen) => {
                    self.i -= 1;
                }
                Some(tok) if tok.kind == Kind::Pipe => {}
                _ => return Err(self.unexpected(&t, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.err_at(start, "empty command".into()));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> Result<Option<Arg>, ParseError> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if !self.peek().is_some_and(|t| t.kind == Kind::Field) {
            return Ok(Some(node));
        }
        // Go places the chained node at its first field (`newChain(t.peek().pos, …)`).
        let chain_pos = self.pos(self.peek().map_or(0, |t| t.pos));
        let mut fields = Vec::new();
        while let Some(t) = self.peek().filter(|t| t.kind == Kind::Field) {
            fields.push(t.val[1..].to_string());
            self.i += 1;
        }
        Ok(Some(match node {
            Arg::Field(_, mut names) => {
                names.extend(fields);
                Arg::Field(chain_pos, names)
            }
            Arg::Variable(_, mut names) => {
                names.extend(fields);
                Arg::Variable(chain_pos, names)
            }
            Arg::Bool(..) | Arg::Str(..) | Arg::Number(..) | Arg::Nil(..) | Arg::Dot(..) => {
                let at = self.tokens.get(self.i - 1).map_or(0, |t| t.pos);
                return Err(self.err_at(at, format!("unexpected . after term \"{node}\"")));
            }
            other => Arg::Chain(chain_pos, Box::new(other), fields),
        }))
    }

    fn term(&mut self) -> Result<Option<Arg>, ParseError> {
        let Some(t) = self.next_non_space() else {
            return Ok(None);
        };
        let p = self.pos(t.pos);
        Ok(Some(match t.kind {
            Kind::Identifier => {
                if !funcs::is_defined(&t.val) {
                    return Err(self.err_at(t.pos, format!("function \"{}\" not defined", t.val)));
                }
                Arg::Ident(p, t.val)
            }
            Kind::Dot => Arg::Dot(p),
            Kind::Nil => Arg::Nil(p),
            Kind::Variable => {
                if !self.vars.contains(&t.val) {
                    return Err(self.err_at(t.pos, format!("undefined variable \"{}\"", t.val)));
                }
                Arg::Variable(p, vec![t.val])
            }
            Kind::Field => Arg::Field(p, vec![t.val[1..].to_string()]),
            Kind::Bool => Arg::Bool(p, t.val == "true"),
            Kind::Number | Kind::CharConst => {
                let n = parse_number(&t.val, t.kind == Kind::CharConst)
                    .map_err(|m| self.err_at(t.pos, m))?;
                Arg::Number(p, n)
            }
            Kind::LeftParen => {
                self.enter()?;
                let pipe = self.pipeline("parenthesized pipeline", Kind::RightParen);
                self.depth -= 1;
                Arg::Pipe(p, Box::new(pipe?))
            }
            Kind::Str => {
                let v = unquote(&t.val).map_err(|m| self.err_at(t.pos, m))?;
                Arg::Str(p, t.val, v)
            }
            _ => {
                self.i -= 1;
                return Ok(None);
            }
        }))
    }
}

/// Go's `strconv.Quote` for ASCII-printable text, enough for messages.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.Unquote` for `"…"` and `` `…` `` strings (and `'…'` for char constants).
pub(super) fn unquote(q: &str) -> Result<String, String> {
    let bad = || "invalid syntax".to_string();
    if q.len() >= 2 && q.starts_with('`') && q.ends_with('`') {
        return Ok(q[1..q.len() - 1].replace('\r', ""));
    }
    let quote = q.chars().next().ok_or_else(bad)?;
    if q.len() < 2 || !q.ends_with(quote) || !(quote == '"' || quote == '\'') {
        return Err(bad());
    }
    let body = &q[1..q.len() - 1];
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or_else(bad)?;
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' if quote == '"' => out.push('"'),
            '\'' if quote == '\'' => out.push('\''),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| chars.next()).collect();
                if hex.len() != n {
                    return Err(bad());
                }
                let v = u32::from_str_radix(&hex, 16).map_err(|_| bad())?;
                if e == 'x' {
                    // A byte; only ASCII keeps the string valid UTF-8 here.
                    out.push(char::from_u32(v).ok_or_else(bad)?);
                } else {
                    out.push(char::from_u32(v).ok_or_else(bad)?);
                }
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = chars.next().and_then(|c| c.to_digit(8)).ok_or_else(bad)?;
                    v = v * 8 + d;
                }
                if v > 255 {
                    return Err(bad());
                }
                out.push(char::from_u32(v).ok_or_else(bad)?);
            }
            _ => return Err(bad()),
        }
    }
    if quote == '\'' && out.chars().count() != 1 {
        return Err(bad());
    }
    Ok(out)
}

/// Go's `newNumber`: the int and float readings of a number constant.
fn parse_number(text: &str, is_char: bool) -> Result<Number, String> {
    if is_char {
        let s = unquote(text).map_err(|_| format!("malformed character constant: {text}"))?;
        let c = s.chars().next().map_or(0, |c| c as i64);
        return Ok(Number {
            text: text.to_string(),
            int: Some(c),
            float: Some(c as f64),
        });
    }
    if text.ends_with('i') {
        return Err(format!("complex constants are not supported: {text}"));
    }
    let clean = text.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i128::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|c| c.is_ascii_digit())
    {
        i128::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|c| c.is_ascii_digit()) && !lower.is_empty() {
        lower.parse::<i128>().ok()
    } else {
        None
    };
    let int = int
        .map(|v| if neg { -v } else { v })
        .and_then(|v| i64::try_from(v).ok());
    if let Some(i) = int {
        return Ok(Number {
            text: text.to_string(),
            int: Some(i),
            float: Some(i as f64),
        });
    }
    let float = if lower.starts_with("0x") {
        None
    } else {
        lower.parse::<f64>().ok().map(|f| if neg { -f } else { f })
    };
    match float {
        Some(f) => {
            if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                return Err(format!("integer overflow: \"{text}\""));
            }
            let int = (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64);
            Ok(Number {
                text: text.to_string(),
                int,
                float: Some(f),
            })
        }
        None => Err(format!("illegal number syntax: \"{text}\"")),
    }
}
