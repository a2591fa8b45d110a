//! In-process benchmarks of the engine: parsing and validating DAG files, and the
//! local executor's scheduling throughput with `noop` functions (no processes, no
//! disk). End-to-end figures against make come from `scripts/bench.py`.
//!
//! `cargo bench --bench engine`

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dag::backends::function::FnRunner;
use dag::engine::events::Event;
use dag::engine::executor::{self, ExecOptions, ExecutorKind, Observer};
use dag::engine::record::RunRecord;
use dag::engine::runner::{Runners, StopSignal, TaskLog};
use dag::engine::store::{RunWriter, StoreError};
use dag::engine::validate::{LoadOptions, load_str};

/// `n` `noop` fn tasks in layers of 100, each depending on one task of the layer
/// before.
fn layered(n: usize) -> String {
    let mut y = String::from("name: bench\ntasks:\n");
    for i in 0..n {
        y.push_str(&format!("  t{i}:\n    type: fn\n    command: noop\n"));
        if i >= 100 {
            y.push_str(&format!("    depends_on: [t{}]\n", i - 100));
        }
    }
    y
}

struct NullWriter;

impl RunWriter for NullWriter {
    fn append(&mut self, _: &Event) -> Result<(), StoreError> {
        Ok(())
    }
    fn commit(&mut self, _: &RunRecord, _: bool) -> Result<(), StoreError> {
        Ok(())
    }
    fn task_log(&mut self, _: &str, _: u32) -> Result<TaskLog, StoreError> {
        Ok(TaskLog::at("/dev/null".into()))
    }
}

struct Quiet;

impl Observer for Quiet {
    fn on_event(&self, _: &RunRecord, _: &Event) {}
}

fn parse_validate(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_validate");
    for n in [1_000, 10_000] {
        let text = layered(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("{n}_tasks"), |b| {
            b.iter(|| load_str("bench.yaml", &text, &LoadOptions::default()).unwrap())
        });
    }
    group.finish();
}

fn scheduler(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let functions = FnRunner::with_builtins();
    let runners = Runners::new().with("fn", Arc::new(functions));
    let mut group = c.benchmark_group("scheduler");
    group.sample_size(10);
    for n in [1_000, 10_000] {
        let dag = Arc::new(load_str("bench.yaml", &layered(n), &LoadOptions::default()).unwrap());
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("local_{n}_noop"), |b| {
            b.iter(|| {
                let record = RunRecord::new("bench".into(), &dag, "bench.yaml".into());
                let options = ExecOptions {
                    executor: ExecutorKind::Local,
                    parallel: 64,
                    ..ExecOptions::default()
                };
                let (dag, runners) = (dag.clone(), runners.clone());
                let run = async move {
                    executor::execute(
                        dag,
                        executor::Run::fresh(record, Box::new(NullWriter)),
                        &runners,
                        Arc::new(Quiet),
                        &options,
                        StopSignal::new(),
                    )
                    .await
                };
                rt.block_on(async { tokio::spawn(run).await.unwrap().unwrap() })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse_validate, scheduler);
criterion_main!(benches);
