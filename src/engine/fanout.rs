//! Fan-out and fan-in at run time: the outputs a task reads from its upstream
//! tasks (a mapped task's as one JSON array), and the expansion of a mapped task
//! whose `for_each` names such an output (`${{ tasks.ID.outputs.KEY }}`) into its
//! instances once that output exists.
//!
//! The limits here are the file's too: a list in the file and a list read at run
//! time give instances of the same shape, within the same bounds.

use serde_json::Value;
use serde_json::value::RawValue;

use super::expr::{self, Expr};
use super::graph::Dag;
use super::record::RunRecord;
use super::spec::{MapInstance, TaskKind, TaskSpec, TriggerRule};
use super::state::TaskState;

/// The most instances one mapped task may have (and the most `max_items` allows).
pub const MAX_INSTANCES: usize = 1_000_000;

/// How deep lists and maps may nest in one item (distributed runs carry items in
/// JSON messages, whose readers stop at 128 levels).
pub const MAX_ITEM_DEPTH: usize = 32;

/// The most bytes one item may take as JSON text (as dag keeps it: compact, every
/// scalar a string), in a list in the file and in a list read at run time alike.
///
/// `${{ item }}` puts at most this much into a task's strings: an item's text is
/// never longer than its JSON. Linux starts no program with one argument or
/// environment string over 128 KiB (`MAX_ARG_STRLEN`, 32 pages), and a bash task's
/// command is one argument to `bash -c`, an env value one `NAME=value` string. Half
/// of that leaves an item room for the command around it: an item within the cap
/// starts its task, where a 1 MB one would fail every instance with "Argument list
/// too long" (or, for http and fn tasks, hold a megabyte per instance). Larger data
/// goes through files, with items naming them.
pub const MAX_ITEM_BYTES: usize = 64 << 10;

/// The bytes `item` takes as compact JSON text, counted without building it.
pub fn item_bytes(item: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a `Value` to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, item);
    count.0
}

/// Why `item` is refused for its size, if it is: its bytes against
/// [`MAX_ITEM_BYTES`].
pub fn item_too_large(item: &Value) -> Option<String> {
    let bytes = item_bytes(item);
    (bytes > MAX_ITEM_BYTES).then(|| {
        format!(
            "takes {bytes} bytes as JSON, more than the {MAX_ITEM_BYTES} ({} KiB) one item may take",
            MAX_ITEM_BYTES >> 10
        )
    })
}

/// The most memory the instances of one mapped task may take, roughly (as
/// [`approx_bytes`] counts it: a million instances of a short command take about
/// 1 GiB).
pub const MAX_INSTANCE_BYTES: usize = 2 << 30;

/// The most memory the instances of every list read at run time in one run may
/// take, roughly.
pub const MAX_RUN_INSTANCE_BYTES: usize = 2 << 30;

/// The most tasks a run grows to by expanding lists read at run time (the
/// instances of its lists take at most [`MAX_RUN_INSTANCE_BYTES`], about 1 KiB
/// each): what an event log read back may claim.
pub const MAX_RUN_TASKS: usize = 4_000_000;

/// `index` as an instance's position is kept (a task has at most
/// [`MAX_INSTANCES`], far fewer than `u32` counts).
pub fn position(index: usize) -> u32 {
    const _: () = assert!(MAX_INSTANCES < u32::MAX as usize);
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// The id of instance `index` of the mapped task `group` (`convert.3`).
pub fn instance_id(group: &str, index: usize) -> super::spec::TaskId {
    compact_str::format_compact!("{group}.{index}")
}

/// The group and index of which `id` is the [`instance_id`], when writing them
/// back gives exactly `id` (no leading zeros): `("convert", 3)` for `convert.3`.
pub fn instance_parts(id: &str) -> Option<(&str, usize)> {
    let group = instance_group(id).filter(|g| !g.is_empty())?;
    let n = &id[group.len() + 1..];
    if n.len() > 1 && n.starts_with('0') {
        return None;
    }
    Some((group, n.parse().ok()?))
}

/// The mapped task whose instance `id` could be (`convert` for `convert.3`): the
/// part before a last `.` followed by digits only.
pub fn instance_group(id: &str) -> Option<&str> {
    let (group, n) = id.rsplit_once('.')?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(group)
}

/// The value of `${{ tasks.FROM.outputs.KEY }}` in a run: what task `from`
/// published, or for a mapped task the JSON array of what each of its instances
/// published, in instance order. The error says why there is none.
pub fn output(dag: &Dag, record: &RunRecord, from: &str, key: &str) -> Result<String, String> {
    if let Some(members) = dag.groups.get(from) {
        let still = members
            .iter()
            .filter(|&&m| !record.tasks[m].state.is_terminal())
            .count();
        if still > 0 {
            return Err(format!("{still} instances of `{from}` have not ended"));
        }
        return Ok(group_output(record, members, key));
    }
    let Some(t) = dag.index_of(from).map(|i| &record.tasks[i]) else {
        return Err(format!("task `{from}` is not part of this run"));
    };
    match t.outputs.get(key) {
        // No process can be given a NUL byte; say which value holds one.
        Some(v) if v.contains('\0') => Err(format!(
            "output `{key}` of task `{from}` contains a NUL character, which cannot be passed to a task"
        )),
        Some(v) => Ok(v.clone()),
        None if t.state != TaskState::Success => Err(format!(
            "task `{from}` did not succeed ({}), so it has no output `{key}`",
            t.state
        )),
        None => {
            let known: Vec<&str> = t.outputs.keys().map(String::as_str).collect();
            Err(format!(
                "task `{from}` published no output `{key}` (it published: {})",
                if known.is_empty() {
                    "nothing".to_string()
                } else {
                    known.join(", ")
                }
            ))
        }
    }
}

/// The output `key` of every instance of a mapped task, as a JSON array in
/// instance order (`null` for an instance that did not publish it).
pub fn group_output(record: &RunRecord, members: &[usize], key: &str) -> String {
    let values: Vec<Value> = members
        .iter()
        .map(|&i| {
            record.tasks[i]
                .outputs
                .get(key)
                .map_or(Value::Null, |v| Value::String(v.clone()))
        })
        .collect();
    Value::Array(values).to_string()
}

/// The items of a list read at run time: `text` must be a JSON array of at most
/// `max` items. Scalars become text as in a list written in the file (numbers as
/// written, `null` the empty text); no item may hold `${{` or a NUL character,
/// nest deeper than [`MAX_ITEM_DEPTH`], or take more than [`MAX_ITEM_BYTES`].
pub fn items(text: &str, max: usize) -> Result<Vec<Value>, String> {
    let list: &RawValue = serde_json::from_str(text).map_err(|e| {
        format!("the list is not JSON ({e}): `for_each` needs a JSON array such as [\"a\", \"b\"]")
    })?;
    let Ok(list) = serde_json::from_str::<Vec<&RawValue>>(list.get()) else {
        return Err(format!(
            "the list is a JSON {}, not an array: `for_each` needs a JSON array such as [\"a\", \"b\"]",
            json_type(list.get())
        ));
    };
    if list.len() > max {
        return Err(format!(
            "the list has {} items, more than the {max} allowed (raise `max_items`, at most {MAX_INSTANCES})",
            list.len()
        ));
    }
    list.into_iter()
        .enumerate()
        .map(|(i, item)| {
            let item = normalize(item, 0).map_err(|e| format!("item {i} of the list {e}"))?;
            match item_too_large(&item) {
                Some(e) => Err(format!(
                    "item {i} of the list {e}: pass large data in files, with items naming them"
                )),
                None => Ok(item),
            }
        })
        .collect()
}

/// The kind of a JSON text that parsed.
fn json_type(raw: &str) -> &'static str {
    match raw.trim_start().as_bytes().first() {
        Some(b'n') => "null",
        Some(b't' | b'f') => "boolean",
        Some(b'"') => "string",
        Some(b'[') => "array",
        Some(b'{') => "object",
        _ => "number",
    }
}

/// An item as a list in the file gives it: every scalar as text, numbers as
/// written (`1.10` stays `1.10`).
fn normalize(raw: &RawValue, depth: usize) -> Result<Value, String> {
    if depth > MAX_ITEM_DEPTH {
        return Err(format!(
            "nests lists and maps deeper than {MAX_ITEM_DEPTH} levels"
        ));
    }
    let text = |s: String| {
        if s.contains("${{") || s.contains('\0') {
            Err("holds `${{` or a NUL character, which no item may hold".to_string())
        } else {
            Ok(Value::String(s))
        }
    };
    let json = raw.get();
    let parse_error = |e: serde_json::Error| format!("is not JSON ({e})");
    match json_type(json) {
        "null" => Ok(Value::String(String::new())),
        "boolean" | "number" => text(json.trim().to_string()),
        "string" => text(serde_json::from_str(json).map_err(parse_error)?),
        "array" => serde_json::from_str::<Vec<&RawValue>>(json)
            .map_err(parse_error)?
            .into_iter()
            .map(|v| normalize(v, depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        _ => {
            let pairs = serde_json::from_str::<RawMap<'_>>(json)
                .map_err(parse_error)?
                .0;
            let mut out = serde_json::Map::new();
            for (k, v) in pairs {
                let Value::String(k) = text(k)? else {
                    unreachable!("text gives a string")
                };
                out.insert(k, normalize(v, depth + 1)?);
            }
            Ok(Value::Object(out))
        }
    }
}

/// A JSON object's entries in order, values unparsed (of duplicate keys, the last
/// wins once they are put in a map, as JSON readers do).
struct RawMap<'a>(Vec<(String, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for RawMap<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = RawMap<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawMap<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(RawMap(out))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// `${{ item }}` or `${{ item.KEY }}` of `item`.
pub fn item_text(item: &Value, key: Option<&str>) -> Result<String, String> {
    item_field(item, key).map_err(|(message, help)| match help {
        Some(help) => format!("{message} ({help})"),
        None => message,
    })
}

/// `${{ item }}` or `${{ item.KEY }}` of `item`, refused with a hint (for the
/// file's checks and the run's alike).
pub fn item_field(item: &Value, key: Option<&str>) -> Result<String, expr::Refusal> {
    let Some(key) = key else {
        return Ok(super::spec::as_text(item));
    };
    if let Some(v) = item.get(key) {
        return Ok(super::spec::as_text(v));
    }
    // Keys may come from a task's output: shown short and printable.
    let keys: Vec<String> = item
        .as_object()
        .map(|m| m.keys().take(20).map(|k| shown(k)).collect())
        .unwrap_or_default();
    let help = match super::suggest::did_you_mean(key, keys.iter().map(String::as_str)) {
        Some(help) => help,
        None if keys.is_empty() => "this item is not a map".into(),
        None => format!("its keys: {}", keys.join(", ")),
    };
    Err((format!("an item has no key `{key}`"), Some(help)))
}

/// A value from a task's output as an error message shows it: printable, and at
/// most 60 characters.
fn shown(s: &str) -> String {
    let short: String = s.chars().take(60).collect();
    let more = if short.len() < s.len() { "…" } else { "" };
    format!("{}{more}", super::text::printable(&short))
}

/// Instance `index` of the mapped task `template` (a dynamic stand-in) for `item`:
/// `${{ item }}` substituted in its strings, depending on the stand-in alone (which
/// has ended `success` when its instances are decided).
pub fn instance(template: &TaskSpec, index: usize, item: Value) -> Result<TaskSpec, String> {
    let mut spec = template.map_strings(&mut |s: &str| {
        let mut kept = 0;
        let value = expr::substitute(s, |e| match e {
            Expr::Item(key) => item_text(&item, *key).map(Some).map_err(|m| (m, None)),
            _ => {
                kept += 1;
                Ok(None)
            }
        })
        .map_err(expr::joined)?;
        // Outputs are substituted when the instance starts, in what this gives: an
        // item must not make an expression there (`$` before it, or next to
        // another item's `{{ tasks.x.output }}`), which would read any output.
        if value.matches("${{").count() > kept {
            return Err(
                "the item's values put together `${{` with the text around them, which dag would read as an expression".to_string(),
            );
        }
        Ok(value)
    })?;
    shape_instance(&mut spec, template, index, Some(item));
    Ok(spec)
}

/// What instance `index` of `template` will be before its item is known (a run
/// resumed after its list was reset by `dag retry`): it waits for the stand-in,
/// which gives it its item when it expands again.
pub fn placeholder(template: &TaskSpec, index: usize) -> TaskSpec {
    let mut spec = template.clone();
    shape_instance(&mut spec, template, index, None);
    spec
}

fn shape_instance(spec: &mut TaskSpec, template: &TaskSpec, index: usize, item: Option<Value>) {
    // The stand-in's group is its id: its instances share it.
    let group = match &template.map {
        Some(m) if *m.group == *template.id => std::sync::Arc::clone(&m.group),
        _ => std::sync::Arc::from(template.id.as_str()),
    };
    spec.id = instance_id(&group, index);
    spec.depends_on = vec![template.id.to_string()];
    spec.trigger_rule = TriggerRule::default();
    spec.map = Some(Box::new(MapInstance {
        group,
        index: Some(position(index)),
        item,
        matrix: Box::default(),
        from: None,
        max_items: None,
    }));
}

/// The instances of the dynamic mapped task `template`, given the run so far:
/// its list read, checked and turned into tasks. The error is the mapped task's.
///
/// `others`: what the instances of the run's other lists take ([`approx_bytes`]),
/// checked against [`MAX_RUN_INSTANCE_BYTES`]; `None` when rebuilding instances
/// a run made already (`dag retry`).
pub fn expand(
    dag: &Dag,
    record: &RunRecord,
    template: &TaskSpec,
    others: Option<usize>,
) -> Result<Vec<TaskSpec>, String> {
    let map = template
        .map
        .as_deref()
        .filter(|m| m.dynamic())
        .ok_or_else(|| format!("task `{}` is not a mapped task", template.id))?;
    let Some((task, key)) = map.source() else {
        return Err(format!(
            "`for_each: ${{{{ {} }}}}` names no task output",
            map.from.as_deref().unwrap_or_default()
        ));
    };
    let text = output(dag, record, task, key).map_err(|e| format!("for_each: {e}"))?;
    let max = map.max_items.unwrap_or(super::spec::DEFAULT_MAX_ITEMS) as usize;
    let items =
        items(&text, max).map_err(|e| format!("for_each: output `{key}` of `{task}`: {e}"))?;
    // The keys its `when` reads, which every item must have (as in the file).
    let when_keys: Vec<String> = template
        .when
        .as_deref()
        .and_then(|w| super::condition::parse(w).ok())
        .map(|c| {
            c.items()
                .into_iter()
                .flatten()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut specs = Vec::with_capacity(items.len());
    let mut bytes = 0usize;
    let mut body = None;
    for (i, item) in items.into_iter().enumerate() {
        for key in &when_keys {
            item_text(&item, Some(key)).map_err(|e| format!("instance {i}: when: {e}"))?;
        }
        let mut spec = instance(template, i, item).map_err(|e| format!("instance {i}: {e}"))?;
        spec.share_body(&mut body);
        // Checked when the file was loaded, for `max_items`; a list cannot pass it.
        if !super::validate::is_valid_name(&spec.id) {
            return Err(format!(
                "instance {i}: `{}` is not a valid task id",
                spec.id
            ));
        }
        if dag.index_of(&spec.id).is_some_and(|t| {
            dag.task(t)
                .map
                .as_ref()
                .is_none_or(|m| *m.group != *template.id)
        }) {
            return Err(format!(
                "instance {i}: another task has the id `{}`",
                spec.id
            ));
        }
        bytes += approx_bytes(&spec);
        if bytes > MAX_INSTANCE_BYTES {
            return Err(format!(
                "the instances would take more than {} MiB: give them shorter values, or fewer of them",
                MAX_INSTANCE_BYTES >> 20
            ));
        }
        if others.is_some_and(|others| bytes + others > MAX_RUN_INSTANCE_BYTES) {
            return Err(format!(
                "with the instances of the lists read before, the run's would take more than {} MiB: give them shorter values, or fewer of them",
                MAX_RUN_INSTANCE_BYTES >> 20
            ));
        }
        specs.push(spec);
    }
    if dag.len() + specs.len() > MAX_RUN_TASKS {
        return Err(format!(
            "the run would have more than {MAX_RUN_TASKS} tasks with these instances"
        ));
    }
    Ok(specs)
}

/// What the instances of lists read at run time in `dag` take, by mapped task.
pub fn instance_bytes(dag: &Dag) -> std::collections::HashMap<&str, usize> {
    let mut bytes = std::collections::HashMap::new();
    for t in &dag.spec.tasks[dag.declared_len()..] {
        if let Some(m) = &t.map {
            *bytes.entry(&*m.group).or_default() += approx_bytes(t);
        }
    }
    bytes
}

/// Roughly what an instance's spec holds: its strings, item and matrix values, and
/// the fixed part of a spec.
pub fn approx_bytes(spec: &TaskSpec) -> usize {
    let kind = match &spec.kind {
        TaskKind::Bash { command } => command.len(),
        TaskKind::Fn { name, args } => name.len() + args.len(),
        TaskKind::Http(h) => {
            h.url.len()
                + h.body.as_ref().map_or(0, String::len)
                + h.headers
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>()
        }
        TaskKind::Docker(d) => {
            d.image.len()
                + d.command.as_ref().map_or(0, String::len)
                + d.volumes.iter().map(String::len).sum::<usize>()
        }
        TaskKind::Dag(d) => {
            d.file.len()
                + d.params
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>()
        }
        TaskKind::Wasm(w) => {
            w.module.len()
                + w.args.iter().map(String::len).sum::<usize>()
                + w.stdin.as_ref().map_or(0, String::len)
                + w.dirs.iter().map(String::len).sum::<usize>()
        }
    };
    let env: usize = spec.env.iter().map(|(k, v)| k.len() + v.len()).sum();
    let (item, matrix) = spec.map.as_deref().map_or((0, 0), |m| {
        (
            m.item.as_ref().map_or(0, |i| i.to_string().len()),
            m.matrix.iter().map(|(k, v)| k.len() + v.len()).sum(),
        )
    });
    // Measured: a JSON value in memory takes about three times its text, and a
    // task's spec, record and graph entries about 1 KiB besides its strings.
    kind + env
        + 3 * item
        + matrix
        + spec.id.len()
        + spec.workdir.as_ref().map_or(0, String::len)
        + 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_a_json_array_within_bounds() {
        let got = items(
            r#"["a", 1, true, null, {"k": 2, "k": 3}, [3], 1.10, 1e2, -0, 123456789012345678901234]"#,
            10,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&got).unwrap(),
            r#"["a","1","true","",{"k":"3"},["3"],"1.10","1e2","-0","123456789012345678901234"]"#
        );
        assert!(items("[1] x", 10).unwrap_err().contains("not JSON"));
        assert!(
            items("{}", 10)
                .unwrap_err()
                .contains("a JSON object, not an array")
        );
        assert!(items("not json", 10).unwrap_err().contains("not JSON"));
        assert!(
            items("[1,2,3]", 2)
                .unwrap_err()
                .contains("3 items, more than the 2")
        );
        assert!(
            items(r#"["${{ params.x }}"]"#, 2)
                .unwrap_err()
                .contains("item 0")
        );
        assert!(items(r#"[{"a\u0000": 1}]"#, 2).unwrap_err().contains("NUL"));
        assert!(items(&"[".repeat(500_000), 2).is_err());
        let deep = format!("[{}{}]", "[".repeat(40), "]".repeat(40));
        assert!(items(&deep, 2).unwrap_err().contains("deeper"));
    }

    #[test]
    fn an_item_may_take_up_to_64_kib_as_json() {
        // A string's JSON is its text and two quotes.
        let at_cap = format!("[\"{}\"]", "x".repeat(MAX_ITEM_BYTES - 2));
        let got = items(&at_cap, 10).unwrap();
        assert_eq!(item_bytes(&got[0]), MAX_ITEM_BYTES);
        let over = format!("[1, \"{}\"]", "x".repeat(MAX_ITEM_BYTES - 1));
        assert_eq!(
            items(&over, 10).unwrap_err(),
            "item 1 of the list takes 65537 bytes as JSON, more than the 65536 (64 KiB) one item may take: pass large data in files, with items naming them"
        );
        // Measured as dag keeps it: compact, every scalar a string.
        let map = format!("[{{\"k\": [1, {}]}}]", "2".repeat(MAX_ITEM_BYTES));
        assert!(
            items(&map, 10)
                .unwrap_err()
                .contains("item 0 of the list takes 65550 bytes")
        );
        assert_eq!(item_bytes(&serde_json::json!({"k": ["1"]})), 11);
    }

    #[test]
    fn the_format_description_gives_the_same_bounds() {
        let key = crate::engine::format::task_key("max_items").unwrap();
        assert_eq!(
            key.default,
            Some(super::super::spec::DEFAULT_MAX_ITEMS.to_string().as_str())
        );
        assert!(
            key.schema
                .contains(&format!("\"maximum\": {MAX_INSTANCES}"))
        );
    }

    #[test]
    fn a_million_short_instances_fit_the_memory_cap() {
        let dag = crate::engine::validate::load_str(
            "t.yaml",
            "name: t\ntasks:\n  m: {type: fn, command: noop, for_each: [999999]}\n",
            &crate::engine::validate::LoadOptions::default(),
        )
        .unwrap();
        let one = approx_bytes(dag.task(0));
        assert!(one * MAX_INSTANCES <= MAX_INSTANCE_BYTES, "{one}");
        assert!(one * MAX_INSTANCES <= MAX_RUN_INSTANCE_BYTES, "{one}");
    }

    #[test]
    fn item_keys_are_looked_up_with_a_hint() {
        let item = serde_json::json!({"name": "x"});
        assert_eq!(item_text(&item, Some("name")).unwrap(), "x");
        assert!(
            item_text(&item, Some("nmae"))
                .unwrap_err()
                .contains("did you mean")
        );
        assert!(
            item_text(&serde_json::json!("s"), Some("k"))
                .unwrap_err()
                .contains("not a map")
        );
    }
}
