//! The functions a template may call: Go's builtins (`and or not len index print printf
//! println eq ne lt le gt ge`) and Prometheus's function map (`template/template.go`).
//! Arguments are checked against each function's Go signature, with Go's messages, and
//! an error (or what would be a panic in Go, which `text/template` recovers) becomes
//! `error calling NAME: …` at the command.

use std::collections::BTreeMap;
use std::rc::Rc;

use regex::Regex;

use super::exec::{State, Value};
use super::gofmt;
use super::gotime;
use super::parse::{Arg, Command};
use super::QuerySample;

/// The Go types of the parameters, as far as argument checking needs them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ty {
    Str,
    /// `interface{}` / `reflect.Value`: anything.
    Any,
    Sample,
    Samples,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Str => "string",
            Ty::Any => "interface {}",
            Ty::Sample => "*template.sample",
            Ty::Samples => "template.queryResult",
        }
    }
}

/// Name, fixed parameters, variadic parameter type.
const FUNCS: &[(&str, &[Ty], Option<Ty>)] = &[
    // Go builtins.
    ("and", &[Ty::Any], Some(Ty::Any)),
    ("or", &[Ty::Any], Some(Ty::Any)),
    ("not", &[Ty::Any], None),
    ("len", &[Ty::Any], None),
    ("index", &[Ty::Any], Some(Ty::Any)),
    ("print", &[], Some(Ty::Any)),
    ("printf", &[Ty::Str], Some(Ty::Any)),
    ("println", &[], Some(Ty::Any)),
    ("eq", &[Ty::Any], Some(Ty::Any)),
    ("ne", &[Ty::Any, Ty::Any], None),
    ("lt", &[Ty::Any, Ty::Any], None),
    ("le", &[Ty::Any, Ty::Any], None),
    ("gt", &[Ty::Any, Ty::Any], None),
    ("ge", &[Ty::Any, Ty::Any], None),
    // Prometheus.
    ("query", &[Ty::Str], None),
    ("first", &[Ty::Samples], None),
    ("label", &[Ty::Str, Ty::Sample], None),
    ("value", &[Ty::Sample], None),
    ("strvalue", &[Ty::Sample], None),
    ("args", &[], Some(Ty::Any)),
    ("reReplaceAll", &[Ty::Str, Ty::Str, Ty::Str], None),
    ("safeHtml", &[Ty::Str], None),
    ("match", &[Ty::Str, Ty::Str], None),
    ("title", &[Ty::Str], None),
    ("toUpper", &[Ty::Str], None),
    ("toLower", &[Ty::Str], None),
    ("graphLink", &[Ty::Str], None),
    ("tableLink", &[Ty::Str], None),
    ("sortByLabel", &[Ty::Str, Ty::Samples], None),
    ("stripPort", &[Ty::Str], None),
    ("stripDomain", &[Ty::Str], None),
    ("humanize", &[Ty::Any], None),
    ("humanize1024", &[Ty::Any], None),
    ("humanizeDuration", &[Ty::Any], None),
    ("humanizePercentage", &[Ty::Any], None),
    ("humanizeTimestamp", &[Ty::Any], None),
    ("toTime", &[Ty::Any], None),
    ("pathPrefix", &[], None),
    ("externalURL", &[], None),
    ("parseDuration", &[Ty::Str], None),
];

/// Whether `name` may be called (checked at parse time, as Go does).
pub(super) fn is_defined(name: &str) -> bool {
    FUNCS.iter().any(|(n, _, _)| *n == name)
}

/// Calls function `name` of command `cmd` (its first argument is the function's
/// identifier), with `fin` — the previous pipeline stage's value — as last argument.
pub(super) fn call(
    st: &mut State<'_, '_>,
    dot: &Value,
    name: &str,
    cmd: &Command,
    fin: Option<Value>,
) -> Result<Value, super::exec::ExecError> {
    let Some((_, fixed, variadic)) = FUNCS.iter().find(|(n, _, _)| *n == name) else {
        return Err(st.error(format!("\"{name}\" is not a defined function")));
    };
    let args = &cmd.args[1..];
    let n = args.len() + usize::from(fin.is_some());
    match variadic {
        None if n != fixed.len() => {
            return Err(st.error(format!(
                "wrong number of args for {name}: want {} got {n}",
                fixed.len()
            )))
        }
        Some(_) if n < fixed.len() => {
            return Err(st.error(format!(
                "wrong number of args for {name}: want at least {} got {n}",
                fixed.len()
            )))
        }
        _ => {}
    }
    let ty_of = |i: usize| fixed.get(i).copied().or(*variadic).unwrap_or(Ty::Any);
    let cmd_pos = cmd.pos;
    let cmd_text = cmd.to_string();

    // and/or short-circuit and return the deciding value itself.
    if name == "and" || name == "or" {
        let mut v = Value::Invalid;
        for a in args {
            v = st.eval_arg_any(dot, a)?;
            if v.truth() == (name == "or") {
                return Ok(v);
            }
        }
        if let Some(f) = fin {
            v = f;
        }
        return Ok(v);
    }

    let mut argv = Vec::with_capacity(n);
    for (i, a) in args.iter().enumerate() {
        argv.push(eval_typed(st, dot, a, ty_of(i))?);
    }
    if let Some(f) = fin {
        argv.push(validate(st, f, ty_of(n - 1))?);
    }
    let result = apply(st, name, argv);
    result.map_err(|m| {
        let mut e = st.error(String::new());
        e.line = cmd_pos.line;
        e.column = cmd_pos.col;
        e.context = cmd_text;
        e.message = format!("error calling {name}: {m}");
        e
    })
}

/// Go's `evalArg` for a parameter of type `ty`.
fn eval_typed(
    st: &mut State<'_, '_>,
    dot: &Value,
    arg: &Arg,
    ty: Ty,
) -> Result<Value, super::exec::ExecError> {
    match (ty, arg) {
        (Ty::Any, _) => st.eval_arg_any(dot, arg),
        (Ty::Str, Arg::Str(_, _, s)) => Ok(Value::Str(Rc::from(s.as_str()))),
        (Ty::Str, Arg::Bool(..) | Arg::Number(..) | Arg::Nil(..)) => {
            st.at(arg.pos(), arg.to_string());
            Err(st.error(format!("expected string; found {arg}")))
        }
        (Ty::Sample | Ty::Samples, Arg::Bool(..) | Arg::Number(..) | Arg::Str(..)) => {
            st.at(arg.pos(), arg.to_string());
            Err(st.error(format!("can't handle {arg} for arg of type {}", ty.name())))
        }
        (_, Arg::Nil(_)) => Ok(Value::Nil),
        _ => {
            let v = st.eval_arg_any(dot, arg)?;
            validate(st, v, ty)
        }
    }
}

/// Go's `validateType`.
fn validate(st: &State<'_, '_>, v: Value, ty: Ty) -> Result<Value, super::exec::ExecError> {
    match (ty, &v) {
        (Ty::Any, _) => Ok(v),
        (Ty::Str, Value::Str(_))
        | (Ty::Sample, Value::Sample(_))
        | (Ty::Samples, Value::Samples(_)) => Ok(v),
        (Ty::Sample | Ty::Samples, Value::Invalid | Value::Nil) => Ok(Value::Nil),
        (Ty::Str, Value::Invalid) => Err(st.error("invalid value; expected string".into())),
        (_, other) => Err(st.error(format!(
            "wrong type for value; expected {}; got {}",
            ty.name(),
            other.type_name()
        ))),
    }
}

fn s(v: &Value) -> &str {
    match v {
        Value::Str(s) => s,
        _ => "",
    }
}

fn string(x: impl AsRef<str>) -> Value {
    Value::Str(Rc::from(x.as_ref()))
}

const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

fn apply(st: &mut State<'_, '_>, name: &str, a: Vec<Value>) -> Result<Value, String> {
    Ok(match name {
        "not" => Value::Bool(!a[0].truth()),
        "len" => Value::Int(match &a[0] {
            Value::Str(x) | Value::Html(x) => x.len() as i64,
            Value::StrMap(m) => m.len() as i64,
            Value::AnyMap(m) => m.len() as i64,
            Value::Samples(v) => v.len() as i64,
            Value::Invalid | Value::Nil => return Err("len of nil pointer".into()),
            other => return Err(format!("len of type {}", other.type_name())),
        }),
        "index" => index(&a[0], &a[1..])?,
        "print" => string(gofmt::sprint(&a)),
        "println" => string(gofmt::sprintln(&a)),
        "printf" => string(gofmt::sprintf(s(&a[0]), &a[1..])),
        "eq" => {
            if a.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            let mut truth = false;
            for b in &a[1..] {
                if equal(&a[0], b)? {
                    truth = true;
                    break;
                }
            }
            Value::Bool(truth)
        }
        "ne" => Value::Bool(!equal(&a[0], &a[1])?),
        "lt" => Value::Bool(less(&a[0], &a[1])?),
        "le" => Value::Bool(less(&a[0], &a[1])? || equal(&a[0], &a[1])?),
        "gt" => Value::Bool(!(less(&a[0], &a[1])? || equal(&a[0], &a[1])?)),
        "ge" => Value::Bool(!less(&a[0], &a[1])?),
        "query" => {
            let q = s(&a[0]).to_string();
            let res = (st.query)(&q)?;
            Value::Samples(Rc::new(res.into_iter().map(Rc::new).collect()))
        }
        "first" => match &a[0] {
            Value::Samples(v) if !v.is_empty() => Value::Sample(v[0].clone()),
            _ => return Err("first() called on vector with no elements".into()),
        },
        "label" => match &a[1] {
            Value::Sample(x) => string(x.labels.get(s(&a[0])).map_or("", |v| v.as_str())),
            _ => return Err(NIL_DEREF.into()),
        },
        "value" => match &a[0] {
            Value::Sample(x) => Value::Float(x.value),
            _ => return Err(NIL_DEREF.into()),
        },
        "strvalue" => match &a[0] {
            Value::Sample(x) => string(x.labels.get("__value__").map_or("", |v| v.as_str())),
            _ => return Err(NIL_DEREF.into()),
        },
        "args" => {
            let m: BTreeMap<String, Value> = a
                .into_iter()
                .enumerate()
                .map(|(i, v)| (format!("arg{i}"), v))
                .collect();
            Value::AnyMap(Rc::new(m))
        }
        "reReplaceAll" => {
            let re = compile(s(&a[0]))?;
            string(re.replace_all(s(&a[2]), s(&a[1])))
        }
        "safeHtml" => Value::Html(Rc::from(s(&a[0]))),
        "match" => Value::Bool(compile(s(&a[0]))?.is_match(s(&a[1]))),
        "title" => string(title(s(&a[0]))),
        "toUpper" => string(map_chars(s(&a[0]), char::to_uppercase)),
        "toLower" => string(map_chars(s(&a[0]), char::to_lowercase)),
        "graphLink" => string(format!(
            "/graph?g0.expr={}&g0.tab=0",
            query_escape(s(&a[0]))
        )),
        "tableLink" => string(format!(
            "/graph?g0.expr={}&g0.tab=1",
            query_escape(s(&a[0]))
        )),
        "sortByLabel" => match &a[1] {
            Value::Samples(v) => {
                let by = s(&a[0]);
                let mut sorted: Vec<Rc<QuerySample>> = v.as_ref().clone();
                let key = |x: &Rc<QuerySample>| x.labels.get(by).cloned().unwrap_or_default();
                sorted.sort_by_key(key);
                Value::Samples(Rc::new(sorted))
            }
            _ => Value::Nil,
        },
        "stripPort" => {
            let hp = s(&a[0]);
            match split_host_port(hp) {
                Some((h, _)) => string(h),
                None => string(hp),
            }
        }
        "stripDomain" => string(strip_domain(s(&a[0]))),
        "humanize" => string(humanize(to_float(&a[0])?)),
        "humanize1024" => string(humanize1024(to_float(&a[0])?)),
        "humanizeDuration" => string(humanize_duration(to_float(&a[0])?)),
        "humanizePercentage" => string(format!("{}%", gofmt::float_g(to_float(&a[0])? * 100.0, 4))),
        "humanizeTimestamp" => {
            let v = to_float(&a[0])?;
            if !v.is_finite() {
                string(gofmt::float_g(v, 4))
            } else {
                string(gotime::time_string(float_to_time(v)?))
            }
        }
        "toTime" => {
            let v = to_float(&a[0])?;
            if !v.is_finite() {
                return Err("value is NaN or Inf".into());
            }
            Value::Time(float_to_time(v)?)
        }
        "pathPrefix" => string(url_path(&st.external_url)),
        "externalURL" => string(st.external_url.as_ref()),
        "parseDuration" => Value::Float(parse_duration(s(&a[0]))?),
        other => return Err(format!("\"{other}\" is not a defined function")),
    })
}

fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| {
        let msg = e.to_string();
        let last = msg.lines().last().unwrap_or("").trim().to_string();
        format!(
            "regexp: Compile({}): error parsing regexp: {last}",
            super::parse::go_quote(pattern)
        )
    })
}

/// Go's `index`: map keys, slice positions, string bytes.
fn index(item: &Value, idx: &[Value]) -> Result<Value, String> {
    let mut cur = item.clone();
    for i in idx {
        cur = match (&cur, i) {
            (Value::StrMap(m), Value::Str(k)) => {
                string(m.get(k.as_ref()).map_or("", |v| v.as_str()))
            }
            (Value::AnyMap(m), Value::Str(k)) => {
                m.get(k.as_ref()).cloned().unwrap_or(Value::Invalid)
            }
            (Value::StrMap(_) | Value::AnyMap(_), other) => {
                return Err(format!(
                    "value has type {}; should be string",
                    other.type_name()
                ))
            }
            (Value::Samples(v), Value::Int(n)) => {
                let n = *n;
                if n < 0 || n as usize >= v.len() {
                    return Err(format!("index out of range: {n}"));
                }
                Value::Sample(v[n as usize].clone())
            }
            (Value::Str(x), Value::Int(n)) => {
                let n = *n;
                if n < 0 || n as usize >= x.len() {
                    return Err(format!("index out of range: {n}"));
                }
                Value::Int(i64::from(x.as_bytes()[n as usize]))
            }
            (Value::Samples(_) | Value::Str(_), other) => {
                return Err(format!(
                    "cannot index slice/array with type {}",
                    other.type_name()
                ))
            }
            (Value::Invalid | Value::Nil, _) => return Err("index of untyped nil".into()),
            (other, _) => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(cur)
}

#[derive(PartialEq)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) | Value::Html(_) => Kind::Str,
        _ => Kind::Other,
    }
}

fn str_of(v: &Value) -> &str {
    match v {
        Value::Str(x) | Value::Html(x) => x,
        _ => "",
    }
}

/// Go's `eq` for two values.
fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (kind(a), kind(b));
    let valid = |v: &Value| !matches!(v, Value::Invalid);
    if ka != kb {
        if valid(a) && valid(b) {
            return Err("incompatible types for comparison".into());
        }
        return Ok(false);
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        _ if ka == Kind::Str => str_of(a) == str_of(b),
        (Value::Invalid | Value::Nil, Value::Invalid | Value::Nil) => true,
        (Value::Invalid | Value::Nil, _) | (_, Value::Invalid | Value::Nil) => false,
        (Value::Sample(x), Value::Sample(y)) => Rc::ptr_eq(x, y),
        (Value::Time(x), Value::Time(y)) => x == y,
        (Value::StrMap(_) | Value::AnyMap(_) | Value::Samples(_), _) => {
            return Err(format!(
                "non-comparable type {}: {}",
                gofmt::sprint_value(a),
                a.type_name()
            ))
        }
        _ => return Err("incompatible types for comparison".into()),
    })
}

/// Go's `lt`.
fn less(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (kind(a), kind(b));
    if ka == Kind::Other || kb == Kind::Other {
        return Err("invalid type for comparison".into());
    }
    if ka != kb {
        return Err("incompatible types for comparison".into());
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Bool(_), _) => return Err("invalid type for comparison".into()),
        _ => str_of(a) < str_of(b),
    })
}

/// `common/helpers/templates.ConvertToFloat`.
fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(x) => parse_go_float(x),
        Value::Invalid | Value::Nil => Err("can't convert <nil> to float".into()),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

/// `strconv.ParseFloat(s, 64)` with Go's error text.
fn parse_go_float(x: &str) -> Result<f64, String> {
    let bad = || {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            super::parse::go_quote(x)
        )
    };
    let t = x.strip_prefix(['+', '-']).unwrap_or(x);
    let lower = t.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" || lower == "nan" {
        let v = if lower == "nan" {
            f64::NAN
        } else {
            f64::INFINITY
        };
        return Ok(if x.starts_with('-') { -v } else { v });
    }
    if t.is_empty()
        || !t
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return Err(bad());
    }
    x.parse::<f64>().map_err(|_| bad()).and_then(|v| {
        if v.is_infinite() {
            Err(format!(
                "strconv.ParseFloat: parsing {}: value out of range",
                super::parse::go_quote(x)
            ))
        } else {
            Ok(v)
        }
    })
}

fn float_to_time(v: f64) -> Result<i64, String> {
    let ts = v * 1e9;
    if ts > i64::MAX as f64 || ts < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            gofmt::float_v(v)
        ));
    }
    // model.TimeFromUnixNano truncates to milliseconds.
    let nanos = ts as i64;
    Ok(nanos.div_euclid(1_000_000) * 1_000_000)
}

fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return gofmt::float_g(v, 4);
    }
    if v.abs() >= 1.0 {
        let mut prefix = "";
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
        return format!("{}{prefix}", gofmt::float_g(v, 4));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", gofmt::float_g(v, 4))
}

fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return gofmt::float_g(v, 4);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", gofmt::float_g(v, 4))
}

fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return gofmt::float_g(v, 4);
    }
    if v == 0.0 {
        return format!("{}s", gofmt::float_g(v, 4));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = go_int64(v);
        let (secs, mins, hours, days) = (d % 60, d / 60 % 60, d / 3600 % 24, d / 86_400);
        if days != 0 {
            return format!("{sign}{days}d {hours}h {mins}m {secs}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {mins}m {secs}s");
        }
        if mins != 0 {
            return format!("{sign}{mins}m {secs}s");
        }
        return format!("{sign}{}s", gofmt::float_g(v, 4));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", gofmt::float_g(v, 4))
}

/// Go's `int64(v)` on amd64: a value out of range (or NaN) converts to the "integer
/// indefinite" value, the smallest int64 (so `humanizeDuration 1e21` is negative in
/// Prometheus too).
fn go_int64(v: f64) -> i64 {
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// Go's `strings.Title` (Prometheus 2.42): the first letter of each word upper-cased.
fn title(x: &str) -> String {
    let is_sep = |r: char| {
        if r.is_ascii() {
            return !(r.is_ascii_alphanumeric() || r == '_');
        }
        if r.is_alphabetic() || r.is_numeric() {
            return false;
        }
        r.is_whitespace()
    };
    let mut prev = ' ';
    let mut out = String::with_capacity(x.len());
    for c in x.chars() {
        if is_sep(prev) {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => out.push(u),
                _ => out.push(c),
            }
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// Rune-by-rune case mapping, as Go's `strings.ToUpper`/`ToLower` (a rune whose mapping
/// is several runes, like `ß`, stays as it is).
fn map_chars<I: Iterator<Item = char>>(x: &str, f: fn(char) -> I) -> String {
    x.chars()
        .map(|c| {
            let mut m = f(c);
            match (m.next(), m.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// Go's `url.QueryEscape`.
fn query_escape(x: &str) -> String {
    let mut out = String::new();
    for b in x.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `net.SplitHostPort`; `None` where Go returns an error.
fn split_host_port(hp: &str) -> Option<(String, String)> {
    let i = hp.rfind(':')?;
    let (host, j, k);
    if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 != i {
            return None;
        }
        host = hp[1..end].to_string();
        j = 1;
        k = end + 1;
    } else {
        host = hp[..i].to_string();
        if host.contains(':') {
            return None;
        }
        j = 0;
        k = 0;
    }
    if hp[j..].contains('[') || hp[k..].contains(']') {
        return None;
    }
    Some((host, hp[i + 1..].to_string()))
}

fn strip_domain(hp: &str) -> String {
    let (host, port) = split_host_port(hp).unwrap_or_else(|| (hp.to_string(), String::new()));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hp.to_string();
    }
    let host = host.split('.').next().unwrap_or("").to_string();
    if port.is_empty() {
        host
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The path of the external URL (Go's `url.URL.Path`), for `pathPrefix`.
fn url_path(u: &str) -> String {
    let rest = match u.find("://") {
        Some(i) => {
            let after = &u[i + 3..];
            match after.find('/') {
                Some(j) => &after[j..],
                None => "",
            }
        }
        None => u,
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    rest[..end].to_string()
}

/// Prometheus's `model.ParseDuration` (a leading `-` allowed, as Prometheus ≥ 2.52
/// does), in seconds.
fn parse_duration(d: &str) -> Result<f64, String> {
    if d.is_empty() {
        return Err("empty duration string".into());
    }
    let (neg, body) = match d.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, d),
    };
    if body == "0" {
        return Ok(0.0);
    }
    let bad = || format!("not a valid duration string: {}", super::parse::go_quote(d));
    const UNITS: [(&str, i128); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    let mut rest = body;
    let mut next_unit = 0;
    let mut total_ms: i128 = 0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(bad());
        }
        let num: i128 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let unit_len = if rest.starts_with("ms") {
            2
        } else {
            rest.chars().next().map_or(0, char::len_utf8)
        };
        let unit = &rest[..unit_len];
        let Some(pos) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(bad());
        };
        if pos < next_unit {
            return Err(bad());
        }
        next_unit = pos + 1;
        total_ms = total_ms.saturating_add(num.saturating_mul(UNITS[pos].1));
        if total_ms > i64::MAX as i128 / 1_000_000 {
            return Err("duration out of range".into());
        }
        rest = &rest[unit_len..];
    }
    let secs = total_ms as f64 / 1000.0;
    Ok(if neg { -secs } else { secs })
}
