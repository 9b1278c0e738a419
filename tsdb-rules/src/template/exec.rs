//! Go's `text/template` execution (`text/template/exec.go`) over the values alert templates
//! see: pipelines with the previous command's result as the last argument, variables
//! scoped to their control structure, `if`/`with`/`range`/`break`/`continue`, field access
//! on the data, on label maps (a missing key is the zero value, Prometheus's
//! `missingkey=zero`) and on query samples, and Go's rules for printing a value.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::funcs;
use super::gofmt;
use super::gotime;
use super::parse::{Arg, Command, Control, List, Node, Pipe, Pos};
use super::{QuerySample, TemplateData};

/// A value during execution: what Go's `reflect.Value` holds for the types alert
/// templates meet.
#[derive(Debug, Clone)]
pub(super) enum Value {
    /// Go's invalid value (a missing interface value): prints `<no value>`.
    Invalid,
    /// Go's nil: a nil sample pointer or query result, from a nil argument.
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    /// `html/template.HTML` from `safeHtml`: a string of its own type.
    Html(Rc<str>),
    /// `map[string]string`: labels.
    StrMap(Rc<BTreeMap<String, String>>),
    /// `map[string]interface{}`: what `args` returns.
    AnyMap(Rc<BTreeMap<String, Value>>),
    /// `*template.sample`.
    Sample(Rc<QuerySample>),
    /// `template.queryResult`.
    Samples(Rc<Vec<Rc<QuerySample>>>),
    /// `*time.Time` from `toTime`, as Unix nanoseconds (UTC).
    Time(i64),
    /// The template data struct (`AlertTemplateData`).
    Data(Rc<Data>),
}

/// The data struct, owned for the duration of one expansion.
#[derive(Debug)]
pub(super) struct Data {
    pub labels: Rc<BTreeMap<String, String>>,
    pub external_labels: Rc<BTreeMap<String, String>>,
    pub external_url: Rc<str>,
    pub value: f64,
}

impl Value {
    /// Go's type name, as error messages print it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Invalid => "<nil>",
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Html(_) => "template.HTML",
            Value::StrMap(_) => "map[string]string",
            Value::AnyMap(_) => "map[string]interface {}",
            Value::Sample(_) => "*template.sample",
            Value::Samples(_) => "template.queryResult",
            Value::Time(_) => "*time.Time",
            Value::Data(_) => {
                "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }"
            }
        }
    }

    /// Go's truth (`if`, `with`, `and`, `or`, `not`).
    pub fn truth(&self) -> bool {
        match self {
            Value::Invalid | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) | Value::Html(s) => !s.is_empty(),
            Value::StrMap(m) => !m.is_empty(),
            Value::AnyMap(m) => !m.is_empty(),
            Value::Samples(s) => !s.is_empty(),
            Value::Sample(_) | Value::Time(_) | Value::Data(_) => true,
        }
    }
}

/// An execution error before the template's name is attached.
#[derive(Debug)]
pub(super) struct ExecError {
    pub line: usize,
    pub column: usize,
    pub context: String,
    pub message: String,
}

/// How a walk ended early: an error, or `break`/`continue` travelling to their `range`.
enum Flow {
    Err(ExecError),
    Break,
    Continue,
}

impl From<ExecError> for Flow {
    fn from(e: ExecError) -> Flow {
        Flow::Err(e)
    }
}

pub(super) type QueryFn<'q> = dyn FnMut(&str) -> Result<Vec<QuerySample>, String> + 'q;

/// Evaluation state: the variable stack, the node being evaluated (for messages), the
/// output and the environment the Prometheus functions read.
pub(super) struct State<'q, 'r> {
    vars: Vec<(String, Value)>,
    at: Option<(Pos, String)>,
    out: String,
    pub external_url: Rc<str>,
    pub query: &'r mut QueryFn<'q>,
}

/// Runs a parsed template.
pub(super) fn execute(
    tree: &List,
    data: &TemplateData<'_>,
    query: &mut QueryFn<'_>,
) -> Result<String, ExecError> {
    let external_url: Rc<str> = Rc::from(data.external_url);
    let dot = Value::Data(Rc::new(Data {
        labels: Rc::new(data.labels.clone()),
        external_labels: Rc::new(data.external_labels.clone()),
        external_url: external_url.clone(),
        value: data.value,
    }));
    let mut st = State {
        vars: vec![("$".to_string(), dot.clone())],
        at: None,
        out: String::new(),
        external_url,
        query,
    };
    match st.walk_list(&dot, tree) {
        Ok(()) => Ok(st.out),
        Err(Flow::Err(e)) => Err(e),
        // The parser allows break/continue only inside range.
        Err(Flow::Break | Flow::Continue) => Ok(st.out),
    }
}

impl State<'_, '_> {
    /// Records the node being evaluated, for error messages (Go's `s.at`).
    pub fn at(&mut self, pos: Pos, context: String) {
        self.at = Some((pos, context));
    }

    /// Go's `s.errorf`: an error at the node being evaluated.
    pub fn error(&self, message: String) -> ExecError {
        let (pos, ctx) = self
            .at
            .clone()
            .unwrap_or((Pos { line: 1, col: 0 }, String::new()));
        let context = ctx;
        ExecError {
            line: pos.line,
            column: pos.col,
            context,
            message,
        }
    }

    fn walk_list(&mut self, dot: &Value, list: &List) -> Result<(), Flow> {
        for node in list {
            self.walk(dot, node)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value, node: &Node) -> Result<(), Flow> {
        match node {
            Node::Text(t) => {
                self.out.push_str(t);
                Ok(())
            }
            Node::Action(pipe) => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    let s = self.print_value(&v)?;
                    self.out.push_str(&s);
                }
                Ok(())
            }
            Node::If(c) | Node::With(c) => {
                let is_with = matches!(node, Node::With(_));
                let mark = self.vars.len();
                let v = self.eval_pipeline(dot, &c.pipe)?;
                let r = if v.truth() {
                    if is_with {
                        self.walk_list(&v, &c.list)
                    } else {
                        self.walk_list(dot, &c.list)
                    }
                } else if let Some(e) = &c.else_list {
                    self.walk_list(dot, e)
                } else {
                    Ok(())
                };
                self.vars.truncate(mark);
                r
            }
            Node::Range(c) => self.walk_range(dot, c),
            Node::Break => Err(Flow::Break),
            Node::Continue => Err(Flow::Continue),
        }
    }

    fn walk_range(&mut self, dot: &Value, c: &Control) -> Result<(), Flow> {
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &c.pipe)?;
        let items: Vec<(Value, Value)> = match &val {
            Value::Samples(s) => s
                .iter()
                .enumerate()
                .map(|(i, x)| (Value::Int(i as i64), Value::Sample(x.clone())))
                .collect(),
            Value::StrMap(m) => m
                .iter()
                .map(|(k, v)| {
                    (
                        Value::Str(Rc::from(k.as_str())),
                        Value::Str(Rc::from(v.as_str())),
                    )
                })
                .collect(),
            Value::AnyMap(m) => m
                .iter()
                .map(|(k, v)| (Value::Str(Rc::from(k.as_str())), v.clone()))
                .collect(),
            Value::Invalid | Value::Nil => Vec::new(),
            other => {
                self.vars.truncate(mark);
                return Err(self
                    .error(format!(
                        "range can't iterate over {}",
                        self.sprint_plain(other)
                    ))
                    .into());
            }
        };
        let after_decl = self.vars.len();
        let mut result = Ok(());
        for (idx, elem) in &items {
            // Go sets the declared variables (the top of the stack) for each iteration.
            match c.pipe.decl.len() {
                0 => {}
                1 => self.set_top(after_decl, 1, elem.clone()),
                _ => {
                    self.set_top(after_decl, 2, idx.clone());
                    self.set_top(after_decl, 1, elem.clone());
                }
            }
            let r = self.walk_list(elem, &c.list);
            self.vars.truncate(after_decl);
            match r {
                Ok(()) | Err(Flow::Continue) => {}
                Err(Flow::Break) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if items.is_empty() {
            if let Some(e) = &c.else_list {
                result = self.walk_list(dot, e);
            }
        }
        self.vars.truncate(mark);
        result
    }

    fn set_top(&mut self, len: usize, n: usize, v: Value) {
        if len >= n {
            if let Some(slot) = self.vars.get_mut(len - n) {
                slot.1 = v;
            }
        }
    }

    fn var_value(&self, name: &str) -> Result<Value, ExecError> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.error(format!("undefined variable: {name}")))
    }

    pub fn eval_pipeline(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value, ExecError> {
        self.at(pipe.pos, pipe.to_string());
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(Value::Invalid);
        for name in &pipe.decl {
            if pipe.is_assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = value.clone(),
                    None => return Err(self.error(format!("undefined variable: {name}"))),
                }
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, cmd: &Command, fin: &Option<Value>) -> Result<(), ExecError> {
        if cmd.args.len() > 1 || fin.is_some() {
            return Err(self.error(format!(
                "can't give argument to non-function {}",
                cmd.args[0]
            )));
        }
        Ok(())
    }

    fn eval_command(
        &mut self,
        dot: &Value,
        cmd: &Command,
        fin: Option<Value>,
    ) -> Result<Value, ExecError> {
        let Some(first) = cmd.args.first() else {
            return Err(self.error("empty command".into()));
        };
        match first {
            Arg::Field(p, names) => {
                self.at(*p, first.to_string());
                self.eval_field_chain(dot, dot.clone(), names, cmd, fin)
            }
            Arg::Variable(p, names) => {
                self.at(*p, first.to_string());
                let v = self.var_value(&names[0])?;
                if names.len() == 1 {
                    self.not_a_function(cmd, &fin)?;
                    return Ok(v);
                }
                self.eval_field_chain(dot, v, &names[1..], cmd, fin)
            }
            Arg::Chain(p, node, fields) => {
                self.at(*p, first.to_string());
                if matches!(node.as_ref(), Arg::Nil(_)) {
                    return Err(self.error(format!("indirection through explicit nil in {first}")));
                }
                let v = self.eval_arg_any(dot, node)?;
                self.eval_field_chain(dot, v, fields, cmd, fin)
            }
            Arg::Ident(p, name) => {
                self.at(*p, name.clone());
                funcs::call(self, dot, name, cmd, fin)
            }
            Arg::Pipe(p, pipe) => {
                self.at(*p, first.to_string());
                self.not_a_function(cmd, &fin)?;
                self.eval_pipeline(dot, pipe)
            }
            lit => {
                self.at(lit.pos(), lit.to_string());
                self.not_a_function(cmd, &fin)?;
                match lit {
                    Arg::Bool(_, b) => Ok(Value::Bool(*b)),
                    Arg::Dot(_) => Ok(dot.clone()),
                    Arg::Nil(_) => Err(self.error("nil is not a command".into())),
                    Arg::Number(_, n) => self.ideal_constant(n),
                    Arg::Str(_, _, s) => Ok(Value::Str(Rc::from(s.as_str()))),
                    _ => Err(self.error(format!("can't evaluate command {lit}"))),
                }
            }
        }
    }

    fn ideal_constant(&self, n: &super::parse::Number) -> Result<Value, ExecError> {
        if n.is_float_syntax() {
            if let Some(f) = n.float {
                return Ok(Value::Float(f));
            }
        }
        match n.int {
            Some(i) => Ok(Value::Int(i)),
            None => Err(self.error(format!("{} overflows int", n.text))),
        }
    }

    /// Go's `evalEmptyInterface`/`evalArg` for an argument of type `any` or `reflect.Value`.
    pub fn eval_arg_any(&mut self, dot: &Value, arg: &Arg) -> Result<Value, ExecError> {
        self.at(arg.pos(), arg.to_string());
        match arg {
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => Err(self.error("evalEmptyInterface: nil (can't happen)".into())),
            Arg::Bool(_, b) => Ok(Value::Bool(*b)),
            Arg::Number(_, n) => self.ideal_constant(n),
            Arg::Str(_, _, s) => Ok(Value::Str(Rc::from(s.as_str()))),
            Arg::Field(_, names) => self.eval_field_chain_noargs(dot, dot.clone(), names),
            Arg::Variable(_, names) => {
                let v = self.var_value(&names[0])?;
                if names.len() == 1 {
                    return Ok(v);
                }
                self.eval_field_chain_noargs(dot, v, &names[1..])
            }
            Arg::Ident(_, name) => {
                let cmd = Command {
                    pos: arg.pos(),
                    args: vec![arg.clone()],
                };
                funcs::call(self, dot, name, &cmd, None)
            }
            Arg::Pipe(_, pipe) => self.eval_pipeline(dot, pipe),
            Arg::Chain(_, node, fields) => {
                if matches!(node.as_ref(), Arg::Nil(_)) {
                    return Err(self.error(format!("indirection through explicit nil in {arg}")));
                }
                let v = self.eval_arg_any(dot, node)?;
                self.eval_field_chain_noargs(dot, v, fields)
            }
        }
    }

    fn eval_field_chain_noargs(
        &mut self,
        dot: &Value,
        receiver: Value,
        names: &[String],
    ) -> Result<Value, ExecError> {
        let mut v = receiver;
        for name in names {
            v = self.eval_field(dot, &v, name, &[], None)?;
        }
        Ok(v)
    }

    /// Go's `evalFieldChain`: all but the last field without arguments; the last gets the
    /// command's remaining arguments and the final value (only methods take them).
    fn eval_field_chain(
        &mut self,
        dot: &Value,
        receiver: Value,
        names: &[String],
        cmd: &Command,
        fin: Option<Value>,
    ) -> Result<Value, ExecError> {
        let Some((last, init)) = names.split_last() else {
            return Ok(receiver);
        };
        let mut v = receiver;
        for name in init {
            v = self.eval_field(dot, &v, name, &[], None)?;
        }
        self.eval_field(dot, &v, last, &cmd.args[1..], fin)
    }

    fn eval_field(
        &mut self,
        dot: &Value,
        receiver: &Value,
        name: &str,
        args: &[Arg],
        fin: Option<Value>,
    ) -> Result<Value, ExecError> {
        let has_args = !args.is_empty() || fin.is_some();
        // Methods of *time.Time.
        if let Value::Time(t) = receiver {
            let mut argv = Vec::new();
            for a in args {
                argv.push(self.eval_arg_any(dot, a)?);
            }
            if let Some(f) = fin {
                argv.push(f);
            }
            return gotime::method(*t, name, &argv).map_err(|m| self.error(m));
        }
        let no_args = |st: &Self| {
            if has_args {
                Err(st.error(format!(
                    "{name} has arguments but cannot be invoked as function"
                )))
            } else {
                Ok(())
            }
        };
        match receiver {
            Value::Invalid => Ok(Value::Invalid),
            Value::Nil => {
                Err(self.error(format!("nil pointer evaluating *template.sample.{name}")))
            }
            Value::Data(d) => {
                let v = match name {
                    "Labels" => Value::StrMap(d.labels.clone()),
                    "ExternalLabels" => Value::StrMap(d.external_labels.clone()),
                    "ExternalURL" => Value::Str(d.external_url.clone()),
                    "Value" => Value::Float(d.value),
                    _ => {
                        return Err(self.error(format!(
                            "can't evaluate field {name} in type {}",
                            receiver.type_name()
                        )))
                    }
                };
                no_args(self)?;
                Ok(v)
            }
            Value::Sample(s) => {
                let v = match name {
                    "Labels" => Value::StrMap(Rc::new(s.labels.clone())),
                    "Value" => Value::Float(s.value),
                    _ => {
                        return Err(self.error(format!(
                            "can't evaluate field {name} in type *template.sample"
                        )))
                    }
                };
                no_args(self)?;
                Ok(v)
            }
            Value::StrMap(m) => {
                if has_args {
                    return Err(self.error(format!("{name} is not a method but has arguments")));
                }
                Ok(Value::Str(Rc::from(m.get(name).map_or("", |s| s.as_str()))))
            }
            Value::AnyMap(m) => {
                if has_args {
                    return Err(self.error(format!("{name} is not a method but has arguments")));
                }
                Ok(m.get(name).cloned().unwrap_or(Value::Invalid))
            }
            other => Err(self.error(format!(
                "can't evaluate field {name} in type {}",
                other.type_name()
            ))),
        }
    }

    /// Go's `printValue`: the text an action writes for a value.
    fn print_value(&self, v: &Value) -> Result<String, ExecError> {
        Ok(match v {
            Value::Invalid => "<no value>".to_string(),
            other => self.sprint_plain(other),
        })
    }

    /// `fmt.Sprint` of one value.
    pub fn sprint_plain(&self, v: &Value) -> String {
        gofmt::sprint_value(v)
    }
}
