//! `${{ ... }}` expressions in string values: `params.NAME`, substituted when the file
//! is loaded, and `tasks.ID.outputs.KEY` / `tasks.ID.output`, substituted when the
//! task starts, from what its upstream tasks published.

/// One parsed expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr<'a> {
    /// `params.NAME`.
    Param(&'a str),
    /// `tasks.ID.outputs.KEY`; `tasks.ID.output` is `KEY = "output"`.
    Output {
        /// The task that published it.
        task: &'a str,
        /// The output's key.
        key: &'a str,
    },
    /// `item` (the whole item of a `for_each` instance) or `item.KEY` (a field of
    /// a map item), substituted when the file is loaded.
    Item(Option<&'a str>),
    /// `matrix.AXIS`: the value of a `matrix` instance on one axis, substituted
    /// when the file is loaded.
    Matrix(&'a str),
}

/// The key that `${{ tasks.ID.output }}` names: an HTTP task's response body, or
/// whatever a task publishes as `output`.
pub const DEFAULT_OUTPUT: &str = "output";

/// Parses the text between `${{` and `}}`.
///
/// ```
/// use dag::engine::expr::{Expr, parse};
///
/// assert_eq!(parse(" params.day "), Ok(Expr::Param("day")));
/// assert_eq!(parse("tasks.fetch.output"), Ok(Expr::Output { task: "fetch", key: "output" }));
/// assert_eq!(parse("item.name"), Ok(Expr::Item(Some("name"))));
/// assert_eq!(parse("matrix.region"), Ok(Expr::Matrix("region")));
/// assert!(parse("env.HOME").is_err());
/// ```
pub fn parse(inner: &str) -> Result<Expr<'_>, String> {
    let inner = inner.trim();
    if let Some(name) = inner.strip_prefix("params.") {
        return if is_word(name) {
            Ok(Expr::Param(name))
        } else {
            Err(format!("invalid param name in `{inner}`"))
        };
    }
    if inner == "item" {
        return Ok(Expr::Item(None));
    }
    if let Some(key) = inner.strip_prefix("item.") {
        return if is_key(key) {
            Ok(Expr::Item(Some(key)))
        } else {
            Err(format!("invalid item key in `{inner}`"))
        };
    }
    if let Some(axis) = inner.strip_prefix("matrix.") {
        return if is_key(axis) {
            Ok(Expr::Matrix(axis))
        } else {
            Err(format!("invalid matrix axis in `{inner}`"))
        };
    }
    if let Some(rest) = inner.strip_prefix("tasks.") {
        let (task, tail) = rest.split_once('.').ok_or_else(|| {
            format!("`{inner}` names no output: write `tasks.ID.outputs.KEY` or `tasks.ID.output`")
        })?;
        if !is_word(task) && !task.contains('-') {
            return Err(format!("invalid task id in `{inner}`"));
        }
        if tail == DEFAULT_OUTPUT {
            return Ok(Expr::Output {
                task,
                key: DEFAULT_OUTPUT,
            });
        }
        return match tail.strip_prefix("outputs.") {
            Some(key) if is_key(key) => Ok(Expr::Output { task, key }),
            _ => Err(format!(
                "`{inner}`: write `tasks.{task}.outputs.KEY` or `tasks.{task}.output`"
            )),
        };
    }
    Err(format!("unknown expression `{inner}`"))
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Output keys: what `key=value` lines may use.
pub fn is_key(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// A problem with one expression, with its place in the string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    /// The whole `${{ ... }}` text, as written (to find it in the source).
    pub text: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when the resolver knows.
    pub help: Option<String>,
}

/// The messages of `errors` as one line, for a run-time error.
pub fn joined(errors: Vec<ExprError>) -> String {
    errors
        .into_iter()
        .map(|e| e.message)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a resolver refused an expression: a message and an optional hint.
pub type Refusal = (String, Option<String>);

/// Replaces every expression in `s` by what `resolve` gives for it; `Ok(None)` keeps
/// the expression as written (for later substitution). Stops at an unterminated
/// `${{`.
pub fn substitute<F>(s: &str, mut resolve: F) -> Result<String, Vec<ExprError>>
where
    F: FnMut(&Expr<'_>) -> Result<Option<String>, Refusal>,
{
    if !s.contains("${{") {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut errors = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let Some(end) = after.find("}}") else {
            errors.push(ExprError {
                text: rest[start..].to_string(),
                message: "unterminated `${{` expression: no closing `}}`".to_string(),
                help: None,
            });
            return Err(errors);
        };
        let text = &rest[start..start + 3 + end + 2];
        match parse(&after[..end])
            .map_err(|m| (m, None))
            .and_then(|e| resolve(&e))
        {
            Ok(Some(value)) => out.push_str(&value),
            Ok(None) => out.push_str(text),
            Err((message, help)) => errors.push(ExprError {
                text: text.to_string(),
                message,
                help,
            }),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(parse(" params.day "), Ok(Expr::Param("day")));
        assert_eq!(
            parse("tasks.a.outputs.k"),
            Ok(Expr::Output {
                task: "a",
                key: "k"
            })
        );
        assert_eq!(
            parse("tasks.fetch-x.output"),
            Ok(Expr::Output {
                task: "fetch-x",
                key: "output"
            })
        );
        assert!(parse("tasks.a").is_err());
        assert!(parse("tasks.a.outputs.").is_err());
        assert!(
            parse("env.HOME")
                .unwrap_err()
                .contains("unknown expression")
        );
    }

    #[test]
    fn substitutes_and_keeps() {
        let got = substitute("a ${{ params.x }} b ${{ tasks.t.output }} c", |e| match e {
            Expr::Param(_) => Ok(Some("X".into())),
            Expr::Output { .. } => Ok(None),
            Expr::Item(_) | Expr::Matrix(_) => Ok(Some("I".into())),
        });
        assert_eq!(got.unwrap(), "a X b ${{ tasks.t.output }} c");
        let err = substitute("${{ params.y", |_| Ok(None)).unwrap_err();
        assert!(err[0].message.contains("unterminated"));
    }
}
