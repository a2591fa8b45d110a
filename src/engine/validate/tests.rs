//! Tests of the loader as a whole.

#[cfg(test)]
mod fuzz_tests {
    //! The loader never panics, whatever it is given: random bytes, and random
    //! documents made of the pieces DAG files are made of.

    use proptest::prelude::*;

    use crate::engine::validate::{LoadOptions, load_bytes};

    fn piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "name: ",
            "tasks:",
            "\n",
            "  ",
            "    ",
            "a",
            "b",
            ": ",
            "- ",
            "[",
            "]",
            "{",
            "}",
            ", ",
            "command: ",
            "depends_on: ",
            "type: fn",
            "type: http",
            "type: docker",
            "${{ params.x }}",
            "${{ tasks.a.output }}",
            "${{",
            "}}",
            "&x ",
            "*x",
            "<<: ",
            "'",
            "\"",
            "#",
            "retries: 3",
            "timeout: 1s",
            "trigger_rule: one_failed",
            "params: {x: 1}",
            "env:",
            "~",
            "null",
            "true",
            "1.5",
            "-3",
            "\t",
            "\\",
            "é",
            "secret_env: [A]",
            "---",
            "...",
            "? ",
            "!tag ",
            "|",
            ">",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = load_bytes("fuzz.yaml", &bytes, &LoadOptions::default());
        }

        #[test]
        fn random_dag_like_documents_never_panic(pieces in proptest::collection::vec(piece(), 0..80)) {
            let text = pieces.concat();
            if let Err(crate::engine::validate::LoadError::Invalid(invalid)) = load_bytes("fuzz.yaml", text.as_bytes(), &LoadOptions::default()) {
                // Rendering the problems must not panic either.
                let _ = invalid.reports();
            }
        }
    }
}

#[cfg(test)]
mod scale_tests {
    //! Checks that must stay near-linear in the number of tasks (attack pass on
    //! issue 13: both took tens of seconds on 10,000–20,000 tasks).

    use std::fmt::Write;
    use std::time::{Duration, Instant};

    use crate::engine::validate::{LoadError, LoadOptions, load_str};

    const TASKS: usize = 10_000;
    /// Generous, even for a debug build on a busy machine: the quadratic versions
    /// took 10 s and more.
    const BOUND: Duration = Duration::from_secs(3);

    #[test]
    fn many_references_to_one_upstream_task_are_checked_with_one_walk() {
        let mut text = String::from("name: c\ntasks:\n  t0: {command: 'true'}\n");
        for i in 1..TASKS {
            writeln!(
                text,
                "  t{i}: {{command: 'echo ${{{{ tasks.t0.outputs.k }}}}', depends_on: [t{}]}}",
                i - 1
            )
            .unwrap();
        }
        let start = Instant::now();
        let dag = load_str("c.yaml", &text, &LoadOptions::default());
        assert!(dag.is_ok(), "{:?}", dag.err().map(|e| e.to_string()));
        assert!(start.elapsed() < BOUND, "took {:?}", start.elapsed());
    }

    #[test]
    fn many_references_to_unknown_tasks_are_reported_quickly() {
        // Not ASCII: spans are then counted in characters, not bytes.
        let mut text = String::from("name: c # é\ntasks:\n");
        for i in 0..TASKS {
            writeln!(
                text,
                "  task_number_{i}: {{command: 'echo ${{{{ tasks.zzz_{i}.outputs.k }}}}'}}"
            )
            .unwrap();
        }
        let start = Instant::now();
        let err = load_str("c.yaml", &text, &LoadOptions::default());
        assert!(matches!(err, Err(LoadError::Invalid(_))));
        assert!(start.elapsed() < BOUND, "took {:?}", start.elapsed());
    }
}
