//! `when:` conditions: a small boolean language over params, upstream outputs and
//! the run's environment, parsed once when the file is loaded and evaluated when
//! the task's trigger rule lets it run.
//!
//! ```text
//! or     := and ("||" and)*
//! and    := not ("&&" not)*
//! not    := "!" not | cmp
//! cmp    := "(" or ")" | value (("==" | "!=" | "<" | "<=" | ">" | ">=") value | "in" list)?
//! value  := 'text' | "text" | number | true | false | path
//! list   := "[" (value ("," value)*)? "]"
//! path   := params.NAME | env.NAME | tasks.ID.outputs.KEY | tasks.ID.output
//! ```
//!
//! Every value is text. Two values compare as numbers when both are numbers and
//! neither is quoted text (`params.n > 9`), else as text (`params.v == '1.10'`). A
//! value on its own is true unless it is empty, `false` or `0`.

use super::expr::{self, Expr};

/// How deep parentheses and `!` may nest: a condition is one line, not a program.
const MAX_DEPTH: usize = 64;

/// The most tokens (values, operators, brackets) in one condition.
const MAX_TOKENS: usize = 1000;

/// A parsed condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// `a || b`.
    Or(Box<Cond>, Box<Cond>),
    /// `a && b`.
    And(Box<Cond>, Box<Cond>),
    /// `!a`.
    Not(Box<Cond>),
    /// `a OP b`.
    Compare(Operand, Op, Operand),
    /// `a in [b, c]`.
    In(Operand, Vec<Operand>),
    /// A value taken as true or false.
    Truthy(Operand),
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

/// A value in a condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// Quoted text: always compared as text.
    Text(String),
    /// A literal number, `true` or `false`.
    Literal(String),
    /// `params.NAME`.
    Param(String),
    /// `env.NAME`: the DAG's `env`, then the environment `dag` was started with.
    Env(String),
    /// `item` or `item.KEY` of a `for_each` instance.
    Item(Option<String>),
    /// `matrix.AXIS` of a `matrix` instance.
    Matrix(String),
    /// `tasks.ID.outputs.KEY` or `tasks.ID.output`.
    Output {
        /// The upstream task.
        task: String,
        /// The output's key.
        key: String,
    },
}

/// Where a condition reads its values when it is evaluated.
pub trait Lookup {
    /// The value of param `name`.
    fn param(&self, name: &str) -> Option<String>;
    /// The value of variable `name`.
    fn env(&self, name: &str) -> Option<String>;
    /// The output `key` of `task`, if it published one.
    fn output(&self, task: &str, key: &str) -> Option<String>;
    /// The item (`key: None`) or a field of it, of the instance being decided.
    fn item(&self, key: Option<&str>) -> Option<String>;
    /// The value on `axis` of the matrix instance being decided.
    fn matrix(&self, axis: &str) -> Option<String>;
}

/// Parses a condition: bare, or wrapped whole in `${{ }}`.
pub fn parse(text: &str) -> Result<Cond, String> {
    let trimmed = text.trim();
    let inner = trimmed
        .strip_prefix("${{")
        .and_then(|t| t.strip_suffix("}}"))
        .unwrap_or(trimmed);
    let tokens = lex(inner)?;
    if tokens.len() > MAX_TOKENS {
        return Err(format!(
            "the condition has more than {MAX_TOKENS} values and operators"
        ));
    }
    let mut p = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    if p.tokens.is_empty() {
        return Err("the condition is empty".into());
    }
    let cond = p.or()?;
    match p.tokens.get(p.at) {
        None => Ok(cond),
        Some(t) => Err(format!(
            "unexpected {} after a whole condition",
            t.describe()
        )),
    }
}

impl Cond {
    /// The item fields the condition reads (`item.KEY` as `Some(KEY)`, the whole
    /// `item` as `None`), in order.
    pub fn items(&self) -> Vec<Option<&str>> {
        self.operands()
            .into_iter()
            .filter_map(|o| match o {
                Operand::Item(key) => Some(key.as_deref()),
                _ => None,
            })
            .collect()
    }

    /// Every value the condition reads, in order.
    pub fn operands(&self) -> Vec<&Operand> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(c) = stack.pop() {
            match c {
                Cond::Or(a, b) | Cond::And(a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                Cond::Not(a) => stack.push(a),
                Cond::Compare(a, _, b) => out.extend([a, b]),
                Cond::In(a, list) => {
                    out.push(a);
                    out.extend(list);
                }
                Cond::Truthy(a) => out.push(a),
            }
        }
        out
    }

    /// Whether the condition holds; an error names what could not be read.
    pub fn eval(&self, lookup: &dyn Lookup) -> Result<bool, String> {
        Ok(match self {
            Cond::Or(a, b) => a.eval(lookup)? || b.eval(lookup)?,
            Cond::And(a, b) => a.eval(lookup)? && b.eval(lookup)?,
            Cond::Not(a) => !a.eval(lookup)?,
            Cond::Compare(a, op, b) => compare(
                &a.value(lookup)?,
                *op,
                &b.value(lookup)?,
                a.numeric() && b.numeric(),
            ),
            Cond::In(a, list) => {
                let value = a.value(lookup)?;
                let mut found = false;
                for b in list {
                    if compare(
                        &value,
                        Op::Eq,
                        &b.value(lookup)?,
                        a.numeric() && b.numeric(),
                    ) {
                        found = true;
                        break;
                    }
                }
                found
            }
            Cond::Truthy(a) => truthy(&a.value(lookup)?),
        })
    }
}

impl Operand {
    /// Whether the value may compare as a number: anything but quoted text.
    fn numeric(&self) -> bool {
        !matches!(self, Operand::Text(_))
    }

    fn value(&self, lookup: &dyn Lookup) -> Result<String, String> {
        match self {
            Operand::Text(v) | Operand::Literal(v) => Ok(v.clone()),
            Operand::Param(name) => lookup
                .param(name)
                .ok_or_else(|| format!("param `{name}` is not declared")),
            // An unset variable reads as empty, as in a shell.
            Operand::Env(name) => Ok(lookup.env(name).unwrap_or_default()),
            Operand::Item(key) => lookup.item(key.as_deref()).ok_or_else(|| match key {
                Some(key) => format!("the item has no key `{key}`"),
                None => "the task has no item".to_string(),
            }),
            Operand::Matrix(axis) => lookup
                .matrix(axis)
                .ok_or_else(|| format!("the matrix has no axis `{axis}`")),
            Operand::Output { task, key } => lookup
                .output(task, key)
                .ok_or_else(|| format!("task `{task}` published no output `{key}`")),
        }
    }
}

/// True unless empty, `false` or `0`.
fn truthy(v: &str) -> bool {
    !matches!(v.trim(), "" | "false" | "0")
}

fn compare(a: &str, op: Op, b: &str, numeric: bool) -> bool {
    let numbers = numeric
        .then(|| {
            a.trim()
                .parse::<f64>()
                .ok()
                .zip(b.trim().parse::<f64>().ok())
        })
        .flatten()
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let order = match numbers {
        Some((x, y)) => x.partial_cmp(&y),
        None => Some(a.cmp(b)),
    };
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => order == Some(Equal),
        Op::Ne => order != Some(Equal),
        Op::Lt => order == Some(Less),
        Op::Le => matches!(order, Some(Less | Equal)),
        Op::Gt => order == Some(Greater),
        Op::Ge => matches!(order, Some(Greater | Equal)),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Text(String),
    Number(String),
    Word(String),
    Op(Op),
    And,
    Or,
    Not,
    Open,
    Close,
    OpenList,
    CloseList,
    Comma,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Text(t) => format!("text '{t}'"),
            Token::Number(n) | Token::Word(n) => format!("`{n}`"),
            Token::Op(op) => format!(
                "`{}`",
                match op {
                    Op::Eq => "==",
                    Op::Ne => "!=",
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                }
            ),
            Token::And => "`&&`".into(),
            Token::Or => "`||`".into(),
            Token::Not => "`!`".into(),
            Token::Open => "`(`".into(),
            Token::Close => "`)`".into(),
            Token::OpenList => "`[`".into(),
            Token::CloseList => "`]`".into(),
            Token::Comma => "`,`".into(),
        }
    }
}

fn lex(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|(_, c)| *c);
        let two = |t: Token, chars: &mut std::iter::Peekable<std::str::CharIndices>| {
            chars.next();
            t
        };
        let token = match (c, next) {
            (c, _) if c.is_whitespace() => continue,
            ('=', Some('=')) => two(Token::Op(Op::Eq), &mut chars),
            ('!', Some('=')) => two(Token::Op(Op::Ne), &mut chars),
            ('<', Some('=')) => two(Token::Op(Op::Le), &mut chars),
            ('>', Some('=')) => two(Token::Op(Op::Ge), &mut chars),
            ('&', Some('&')) => two(Token::And, &mut chars),
            ('|', Some('|')) => two(Token::Or, &mut chars),
            ('<', _) => Token::Op(Op::Lt),
            ('>', _) => Token::Op(Op::Gt),
            ('!', _) => Token::Not,
            ('(', _) => Token::Open,
            (')', _) => Token::Close,
            ('[', _) => Token::OpenList,
            (']', _) => Token::CloseList,
            (',', _) => Token::Comma,
            ('\'' | '"', _) => {
                let mut s = String::new();
                let mut closed = false;
                for (_, d) in chars.by_ref() {
                    if d == c {
                        closed = true;
                        break;
                    }
                    s.push(d);
                }
                if !closed {
                    return Err(format!(
                        "text starting at character {} is not closed with {c}",
                        text[..i].chars().count() + 1
                    ));
                }
                Token::Text(s)
            }
            (c, _)
                if c.is_ascii_digit() || (c == '-' && next.is_some_and(|n| n.is_ascii_digit())) =>
            {
                let mut s = String::from(c);
                while let Some((_, d)) = chars.peek().copied() {
                    if d.is_ascii_digit() || d == '.' {
                        s.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if s.parse::<f64>().is_err() {
                    return Err(format!("`{s}` is not a number"));
                }
                Token::Number(s)
            }
            (c, _) if c.is_ascii_alphabetic() || c == '_' => {
                let mut s = String::from(c);
                while let Some((_, d)) = chars.peek().copied() {
                    if d.is_ascii_alphanumeric() || matches!(d, '_' | '-' | '.') {
                        s.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                Token::Word(s)
            }
            ('=', _) => return Err("`=` is not an operator: compare with `==`".into()),
            ('&', _) => return Err("`&` is not an operator: write `&&`".into()),
            ('|', _) => return Err("`|` is not an operator: write `||`".into()),
            (c, _) => return Err(format!("unexpected character `{c}`")),
        };
        out.push(token);
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "the condition nests deeper than {MAX_DEPTH} levels"
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            left = Cond::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut left = self.not()?;
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            left = Cond::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Cond, String> {
        if self.peek() == Some(&Token::Not) {
            self.at += 1;
            self.deeper()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(inner)));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Cond, String> {
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            self.deeper()?;
            let inner = self.or()?;
            self.depth -= 1;
            return match self.next() {
                Some(Token::Close) => Ok(inner),
                Some(t) => Err(format!("expected `)`, found {}", t.describe())),
                None => Err("a `(` is not closed".into()),
            };
        }
        let left = self.operand()?;
        match self.peek() {
            Some(Token::Op(op)) => {
                let op = *op;
                self.at += 1;
                Ok(Cond::Compare(left, op, self.operand()?))
            }
            Some(Token::Word(w)) if w == "in" => {
                self.at += 1;
                Ok(Cond::In(left, self.list()?))
            }
            _ => Ok(Cond::Truthy(left)),
        }
    }

    fn list(&mut self) -> Result<Vec<Operand>, String> {
        match self.next() {
            Some(Token::OpenList) => {}
            Some(t) => {
                return Err(format!(
                    "`in` needs a list `[a, b]`, found {}",
                    t.describe()
                ));
            }
            None => return Err("`in` needs a list `[a, b]`".into()),
        }
        let mut items = Vec::new();
        if self.peek() == Some(&Token::CloseList) {
            self.at += 1;
            return Ok(items);
        }
        loop {
            items.push(self.operand()?);
            match self.next() {
                Some(Token::Comma) => {}
                Some(Token::CloseList) => return Ok(items),
                Some(t) => return Err(format!("expected `,` or `]`, found {}", t.describe())),
                None => return Err("a `[` is not closed".into()),
            }
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.next() {
            Some(Token::Text(t)) => Ok(Operand::Text(t)),
            Some(Token::Number(n)) => Ok(Operand::Literal(n)),
            Some(Token::Word(w)) => word(&w),
            Some(t) => Err(format!("expected a value, found {}", t.describe())),
            None => Err("the condition ends where a value is expected".into()),
        }
    }
}

fn word(w: &str) -> Result<Operand, String> {
    match w {
        "true" | "false" => return Ok(Operand::Literal(w.to_string())),
        _ => {}
    }
    if let Some(name) = w.strip_prefix("env.") {
        return if !name.is_empty() && !name.contains('.') {
            Ok(Operand::Env(name.to_string()))
        } else {
            Err(format!("invalid variable name in `{w}`"))
        };
    }
    if w.starts_with("params.")
        || w.starts_with("tasks.")
        || w == "item"
        || w.starts_with("item.")
        || w.starts_with("matrix.")
    {
        return match expr::parse(w)? {
            Expr::Param(name) => Ok(Operand::Param(name.to_string())),
            Expr::Output { task, key } => Ok(Operand::Output {
                task: task.to_string(),
                key: key.to_string(),
            }),
            Expr::Item(key) => Ok(Operand::Item(key.map(str::to_string))),
            Expr::Matrix(axis) => Ok(Operand::Matrix(axis.to_string())),
        };
    }
    Err(format!(
        "unknown value `{w}`: write `params.NAME`, `env.NAME`, `tasks.ID.outputs.KEY`, `item`, `item.KEY`, `matrix.AXIS`, quoted text, a number, `true` or `false`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Values;

    impl Lookup for Values {
        fn param(&self, name: &str) -> Option<String> {
            match name {
                "env" => Some("prod".into()),
                "n" => Some("10".into()),
                "flag" => Some("false".into()),
                _ => None,
            }
        }
        fn env(&self, name: &str) -> Option<String> {
            (name == "HOME").then(|| "/root".into())
        }
        fn output(&self, task: &str, key: &str) -> Option<String> {
            (task == "check" && key == "count").then(|| "9".into())
        }
        fn item(&self, key: Option<&str>) -> Option<String> {
            (key == Some("size")).then(|| "3".into())
        }
        fn matrix(&self, axis: &str) -> Option<String> {
            (axis == "region").then(|| "eu".into())
        }
    }

    fn holds(text: &str) -> bool {
        parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .eval(&Values)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn conditions_evaluate_as_documented() {
        for (text, want) in [
            ("params.env == 'prod'", true),
            ("${{ params.env == \"prod\" }}", true),
            ("params.env != 'prod'", false),
            ("params.n > 9", true),
            ("params.n > 9.5 && params.n <= 10", true),
            // As numbers, not as text ("10" < "9" as text).
            ("params.n < 9", false),
            (
                "tasks.check.outputs.count >= 10 || params.env in ['dev', 'prod']",
                true,
            ),
            ("!(params.env in ['dev'])", true),
            ("params.flag", false),
            ("!params.flag", true),
            ("env.HOME == '/root' && env.NOPE == ''", true),
            ("true && !false", true),
            ("'b' > 'a'", true),
            // Quoted text compares as text: version strings are not numbers.
            ("'1.10' == '1.1'", false),
            ("params.n == '10'", true),
            ("params.n == 10.0", true),
            ("params.n == '10.0'", false),
            ("params.env in []", false),
            ("-1 < 0", true),
            ("item.size > 2 && matrix.region == 'eu'", true),
        ] {
            assert_eq!(holds(text), want, "{text}");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (text, want) in [
            ("", "the condition is empty"),
            ("params.env = 'prod'", "compare with `==`"),
            ("params.env == 'prod", "is not closed"),
            ("(params.env == 'prod'", "a `(` is not closed"),
            ("params.env ==", "ends where a value is expected"),
            ("params.env in 'prod'", "`in` needs a list"),
            ("params.env 'prod'", "unexpected text 'prod'"),
            ("vars.x", "unknown value `vars.x`"),
            ("tasks.a.outputz.b", "write `tasks.a.outputs.KEY`"),
            ("a & b", "write `&&`"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
        let deep = format!("{}true{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).unwrap_err().contains("nests deeper"));
        let e = parse("tasks.nope.outputs.k == 1")
            .unwrap()
            .eval(&Values)
            .unwrap_err();
        assert_eq!(e, "task `nope` published no output `k`");
    }
}
