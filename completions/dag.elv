
use builtin;
use str;

set edit:completion:arg-completer[dag] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'dag'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'dag'= {
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand run 'Run a DAG file'
            cand validate 'Check DAG files and report every problem'
            cand status 'Show the state of a run (the latest one by default)'
            cand runs 'List past runs, newest first, each run of a sub-DAG under its parent'
            cand logs 'Print the logs of a run''s tasks'
            cand report 'Write a run''s report: counts, failed tasks with their log tails, the graph coloured by state, the task table'
            cand retry 'Run again what did not succeed in a run, under the same run id'
            cand worker 'Run tasks of distributed runs, taken from NATS JetStream'
            cand workers 'List the workers and the depth of each queue'
            cand queues 'Per queue: tasks waiting, running, the live workers serving it, and the tasks waiting where none does (what an autoscaler watches)'
            cand scheduler 'Drive distributed runs that no process drives: runs submitted with `dag run --detach`, and runs whose driver died (taken over once its lease lapses). Any number of schedulers may share a deployment'
            cand wait 'Wait for a run to end, showing its tasks as they change, and exit with the run''s code (0 success, 1 failed, 130 cancelled)'
            cand cancel 'Stop a run: its `dag run` process and its tasks on every worker'
            cand graph 'Show a DAG file''s graph, or a run''s with each task''s state, as text, Graphviz DOT or Mermaid'
            cand ui 'Serve a web view of the runs in the state store: runs, each run''s graph, timeline, tasks and logs (live), each DAG''s history, the workers, and retry/cancel buttons'
            cand init 'Write a commented starter DAG file, dag.yaml, in the current directory'
            cand completions 'Print a shell completion script'
            cand man 'Write man pages for dag and each command'
            cand schema 'Print the JSON Schema of the DAG file format, for editors'
            cand pools 'List the pools of the runs going on, with their sizes, the tasks holding their slots and the tasks waiting for them (this machine''s runs, or with `--state nats` the deployment''s)'
            cand cache 'List and remove the saved results of tasks with `cache:`: this machine''s (beside the file store), or with `--state nats` the workers'' (the NATS object store `dag_cache`)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dag;run'= {
            cand --param 'Override a param: KEY=VALUE (repeatable)'
            cand --only 'Run only this task and everything upstream of it (repeatable)'
            cand --progress 'How progress is shown on stderr: `auto` draws bars on a terminal (not under CI or TERM=dumb) and prints a timestamped line per change elsewhere; `always` draws bars whenever stderr is a terminal; `never` prints none'
            cand --executor 'How tasks are executed'
            cand --metrics-addr 'Serve Prometheus metrics of the attempts this run hands out (started, retried, redelivered and finished by type, queue and state, durations, queue waits, running) and, for a distributed run, the deployment''s queue depths, at http://ADDR/metrics while it runs, e.g. 127.0.0.1:9091'
            cand -p 'Most tasks running at once [default: number of CPUs; 1000 in flight for distributed runs]'
            cand --parallel 'Most tasks running at once [default: number of CPUs; 1000 in flight for distributed runs]'
            cand --pool 'Add a pool, or resize one of the file''s: NAME=SIZE (repeatable; also `$DAG_POOLS`, `NAME=SIZE,...`, and the config file''s `pools`)'
            cand --gpus 'GPUs the local and sequential executors give to tasks with `gpus:`: a count (devices 0..N-1), or `auto` (those `nvidia-smi -L` lists, by UUID; none without nvidia-smi). A task needing more than there are is exit 2; one needing more than are free waits. Distributed runs: each worker''s --gpus [default: 0]'
            cand -o 'What to print on stdout when the run ends'
            cand --output 'What to print on stdout when the run ends'
            cand --report 'Write a JUnit XML report of the run to FILE when it ends (one test case per task; `dag report --format junit` writes the same later)'
            cand --report-markdown 'Write the run''s Markdown report (`dag report`) to FILE when it ends, e.g. `$GITHUB_STEP_SUMMARY`'
            cand --report-html 'Write the run''s HTML report (`dag report --format html`) to FILE when it ends'
            cand --docker-image 'Image of docker tasks that name none'
            cand --docker-network 'Network of docker tasks that name none'
            cand --docker-memory-mb 'Memory limit (MiB) of docker tasks that set none'
            cand --docker-cpu-quota 'CPU limit of docker tasks that set none, in percent of one CPU (1-100000)'
            cand --docker-volume 'A bind mount every docker container gets, HOST:CONTAINER or HOST:CONTAINER:OPTIONS (repeatable; $DAG_DOCKER_VOLUMES holds several separated by `;`, since the options themselves are separated by `,`)'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand --dry-run 'Print the execution plan (order, parallel waves, commands after parameter substitution) and run nothing'
            cand --detach 'Submit the run and exit 0 at once, printing its id: a `dag scheduler` drives it (with `--executor distributed` and the NATS state store only). Follow it with `dag wait RUN_ID`, `dag status RUN_ID --watch` or `dag logs RUN_ID TASK --follow`, from any machine'
            cand --fail-fast 'Stop scheduling new tasks after the first task failure'
            cand --no-cache 'Run tasks with `cache:` even when a saved result matches; their new results replace the saved ones'
            cand -v 'Stream task output live, each line prefixed with its task id'
            cand --verbose 'Stream task output live, each line prefixed with its task id'
            cand -q 'Print nothing (same as `--output quiet`): the exit code tells'
            cand --quiet 'Print nothing (same as `--output quiet`): the exit code tells'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;validate'= {
            cand --format 'How problems are told: rendered for people (on stderr), as one JSON document, or as GitHub Actions annotations (`::error file=…,line=…::…`), both on stdout'
            cand --pool 'Check against this pool too, as `dag run --pool` gives it: NAME=SIZE (repeatable; also `$DAG_POOLS`)'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;status'= {
            cand -o 'Output format'
            cand --output 'Output format'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -w 'Keep showing the run as it changes, until it ends'
            cand --watch 'Keep showing the run as it changes, until it ends'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;runs'= {
            cand --dag 'Only runs of this DAG'
            cand --status 'Only runs in this state'
            cand --limit 'At most this many runs (the runs of sub-DAGs are listed with their parent, not counted)'
            cand --since 'Only runs created since then: a duration back from now (`2h`, `7d`), a date (`2026-11-01`, UTC) or a time (`2026-11-01T12:00:00Z`)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand prune 'Delete runs that ended longer ago than a given age'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dag;runs;prune'= {
            cand --older-than 'Delete runs that ended more than this long ago (e.g. 30d, 12h)'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand --dry-run 'Only list what would be deleted'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;runs;help'= {
            cand prune 'Delete runs that ended longer ago than a given age'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dag;runs;help;prune'= {
        }
        &'dag;runs;help;help'= {
        }
        &'dag;logs'= {
            cand --attempt 'Only this attempt [default: every attempt]'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -f 'Keep printing new output until the run ends'
            cand --follow 'Keep printing new output until the run ends'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;report'= {
            cand --format 'Report format'
            cand -o 'Write the report to FILE instead of standard output'
            cand --out 'Write the report to FILE instead of standard output'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;retry'= {
            cand --task 'Re-run this task and everything downstream of it, even if it succeeded [default: every task that did not succeed]'
            cand --progress 'How progress is shown on stderr: `auto` draws bars on a terminal (not under CI or TERM=dumb) and prints a timestamped line per change elsewhere; `always` draws bars whenever stderr is a terminal; `never` prints none'
            cand --executor 'How tasks are executed'
            cand --metrics-addr 'Serve Prometheus metrics of the attempts this run hands out (started, retried, redelivered and finished by type, queue and state, durations, queue waits, running) and, for a distributed run, the deployment''s queue depths, at http://ADDR/metrics while it runs, e.g. 127.0.0.1:9091'
            cand -p 'Most tasks running at once [default: number of CPUs; 1000 in flight for distributed runs]'
            cand --parallel 'Most tasks running at once [default: number of CPUs; 1000 in flight for distributed runs]'
            cand --pool 'Add a pool, or resize one of the file''s: NAME=SIZE (repeatable; also `$DAG_POOLS`, `NAME=SIZE,...`, and the config file''s `pools`)'
            cand --gpus 'GPUs the local and sequential executors give to tasks with `gpus:`: a count (devices 0..N-1), or `auto` (those `nvidia-smi -L` lists, by UUID; none without nvidia-smi). A task needing more than there are is exit 2; one needing more than are free waits. Distributed runs: each worker''s --gpus [default: 0]'
            cand -o 'What to print on stdout when the run ends'
            cand --output 'What to print on stdout when the run ends'
            cand --report 'Write a JUnit XML report of the run to FILE when it ends (one test case per task; `dag report --format junit` writes the same later)'
            cand --report-markdown 'Write the run''s Markdown report (`dag report`) to FILE when it ends, e.g. `$GITHUB_STEP_SUMMARY`'
            cand --report-html 'Write the run''s HTML report (`dag report --format html`) to FILE when it ends'
            cand --docker-image 'Image of docker tasks that name none'
            cand --docker-network 'Network of docker tasks that name none'
            cand --docker-memory-mb 'Memory limit (MiB) of docker tasks that set none'
            cand --docker-cpu-quota 'CPU limit of docker tasks that set none, in percent of one CPU (1-100000)'
            cand --docker-volume 'A bind mount every docker container gets, HOST:CONTAINER or HOST:CONTAINER:OPTIONS (repeatable; $DAG_DOCKER_VOLUMES holds several separated by `;`, since the options themselves are separated by `,`)'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand --fail-fast 'Stop scheduling new tasks after the first task failure'
            cand --no-cache 'Run tasks with `cache:` even when a saved result matches; their new results replace the saved ones'
            cand -v 'Stream task output live, each line prefixed with its task id'
            cand --verbose 'Stream task output live, each line prefixed with its task id'
            cand -q 'Print nothing (same as `--output quiet`): the exit code tells'
            cand --quiet 'Print nothing (same as `--output quiet`): the exit code tells'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;worker'= {
            cand --workers 'Tasks run at once'
            cand --timeout 'Timeout of tasks that set none'
            cand --gpus 'GPUs this worker gives to tasks with `gpus:`: a count (devices 0..N-1), or `auto` (those `nvidia-smi -L` lists, by UUID; none without nvidia-smi). A task needing more than are free waits in the queue [default: 0]'
            cand --queue 'A queue to serve (repeatable) [default: default]'
            cand --name 'Worker id [default: HOST-PID-RANDOM]'
            cand --allow-types 'Task types this worker runs (comma-separated) [default: bash,http,fn,wasm, and docker with --docker]. Other tasks fail with the reason'
            cand --allow-volume 'Host paths docker tasks may bind-mount and wasm tasks may be granted (`dirs`): a volume or dir whose host path is not under one of these prefixes fails its task (repeatable; each an existing directory, resolved at start) [default: any]'
            cand --allow-network 'Networks docker tasks may name in `network:` (repeatable) [default: bridge, default, none, and the --docker-network]. `host` and `container:NAME` must be named to be allowed. Other tasks fail with the reason'
            cand --shutdown-timeout 'On SIGTERM, how long running tasks may take to finish before they are stopped and handed back to the queue'
            cand --exit-when-idle 'Exit (0) once no task has run here for this long, as after SIGTERM: for autoscalers that scale workers to zero [default: never]'
            cand --metrics-addr 'Serve Prometheus metrics (tasks by type, queue and state, durations, queue waits, running tasks, free slots, queue depths) at http://ADDR/metrics, e.g. 127.0.0.1:9090'
            cand --docker-image 'Image of docker tasks that name none'
            cand --docker-network 'Network of docker tasks that name none'
            cand --docker-memory-mb 'Memory limit (MiB) of docker tasks that set none'
            cand --docker-cpu-quota 'CPU limit of docker tasks that set none, in percent of one CPU (1-100000)'
            cand --docker-volume 'A bind mount every docker container gets, HOST:CONTAINER or HOST:CONTAINER:OPTIONS (repeatable; $DAG_DOCKER_VOLUMES holds several separated by `;`, since the options themselves are separated by `,`)'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand --docker 'Run docker tasks (off by default: only workers started with --docker get them)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;workers'= {
            cand -o 'Output format'
            cand --output 'Output format'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;queues'= {
            cand -o 'Output format'
            cand --output 'Output format'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;scheduler'= {
            cand --max-runs 'Most runs this scheduler drives at once; further runs wait for another scheduler or a free place here'
            cand --metrics-addr 'Serve Prometheus metrics of the attempts this scheduler hands out (started, retried, redelivered and finished by type, queue and state, durations, queue waits, running) and the deployment''s queue depths, at http://ADDR/metrics, e.g. 127.0.0.1:9091'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;wait'= {
            cand -o 'Output format: the task table as it changes, then the result as `dag run` prints it (`table`); the final record (`json`); nothing (`quiet`)'
            cand --output 'Output format: the task table as it changes, then the result as `dag run` prints it (`table`); the final record (`json`); nothing (`quiet`)'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;cancel'= {
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;graph'= {
            cand --format 'Output format'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;ui'= {
            cand --bind 'The address to listen on. Any address but a loopback one needs a token'
            cand --token 'A secret every request must carry (at least 16 letters, digits, `-`, `.`, `_` or `~`; required when binding an address other than loopback). Open the page once as `http://HOST:PORT/?token=TOKEN`: the browser then keeps it in a cookie. Programs send `Authorization: Bearer TOKEN`'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand --read-only 'Show runs, but offer no retry or cancel'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;init'= {
            cand --file 'Write it here instead'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;completions'= {
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;man'= {
            cand --out 'Directory to write the pages to'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;schema'= {
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;pools'= {
            cand -o 'Output format'
            cand --output 'Output format'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;cache'= {
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand ls 'List saved results, oldest first'
            cand rm 'Remove saved results: by key (or a unique prefix of one), or every one of a DAG or a task'
            cand prune 'Remove saved results older than a given age'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dag;cache;ls'= {
            cand --dag 'Only results saved by tasks of this DAG'
            cand --task 'Only results of this task (or, for a mapped task''s id, of its instances)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;cache;rm'= {
            cand --dag 'Only results saved by tasks of this DAG'
            cand --task 'Only results of this task (or, for a mapped task''s id, of its instances)'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand --all 'Remove every saved result'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;cache;prune'= {
            cand --older-than 'Remove results saved more than this long ago (e.g. 7d, 12h)'
            cand --state-dir 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]'
            cand --color 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)'
            cand --config 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]'
            cand --state 'Where run state is kept [default: nats for `--executor distributed`, else file]'
            cand --nats 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS'
            cand --nats-creds 'A NATS credentials file (JWT and NKey seed)'
            cand --nats-ca 'A CA certificate (PEM) to trust for TLS to NATS'
            cand --replicas 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]'
            cand --dry-run 'Only list what would be removed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dag;cache;help'= {
            cand ls 'List saved results, oldest first'
            cand rm 'Remove saved results: by key (or a unique prefix of one), or every one of a DAG or a task'
            cand prune 'Remove saved results older than a given age'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dag;cache;help;ls'= {
        }
        &'dag;cache;help;rm'= {
        }
        &'dag;cache;help;prune'= {
        }
        &'dag;cache;help;help'= {
        }
        &'dag;help'= {
            cand run 'Run a DAG file'
            cand validate 'Check DAG files and report every problem'
            cand status 'Show the state of a run (the latest one by default)'
            cand runs 'List past runs, newest first, each run of a sub-DAG under its parent'
            cand logs 'Print the logs of a run''s tasks'
            cand report 'Write a run''s report: counts, failed tasks with their log tails, the graph coloured by state, the task table'
            cand retry 'Run again what did not succeed in a run, under the same run id'
            cand worker 'Run tasks of distributed runs, taken from NATS JetStream'
            cand workers 'List the workers and the depth of each queue'
            cand queues 'Per queue: tasks waiting, running, the live workers serving it, and the tasks waiting where none does (what an autoscaler watches)'
            cand scheduler 'Drive distributed runs that no process drives: runs submitted with `dag run --detach`, and runs whose driver died (taken over once its lease lapses). Any number of schedulers may share a deployment'
            cand wait 'Wait for a run to end, showing its tasks as they change, and exit with the run''s code (0 success, 1 failed, 130 cancelled)'
            cand cancel 'Stop a run: its `dag run` process and its tasks on every worker'
            cand graph 'Show a DAG file''s graph, or a run''s with each task''s state, as text, Graphviz DOT or Mermaid'
            cand ui 'Serve a web view of the runs in the state store: runs, each run''s graph, timeline, tasks and logs (live), each DAG''s history, the workers, and retry/cancel buttons'
            cand init 'Write a commented starter DAG file, dag.yaml, in the current directory'
            cand completions 'Print a shell completion script'
            cand man 'Write man pages for dag and each command'
            cand schema 'Print the JSON Schema of the DAG file format, for editors'
            cand pools 'List the pools of the runs going on, with their sizes, the tasks holding their slots and the tasks waiting for them (this machine''s runs, or with `--state nats` the deployment''s)'
            cand cache 'List and remove the saved results of tasks with `cache:`: this machine''s (beside the file store), or with `--state nats` the workers'' (the NATS object store `dag_cache`)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dag;help;run'= {
        }
        &'dag;help;validate'= {
        }
        &'dag;help;status'= {
        }
        &'dag;help;runs'= {
            cand prune 'Delete runs that ended longer ago than a given age'
        }
        &'dag;help;runs;prune'= {
        }
        &'dag;help;logs'= {
        }
        &'dag;help;report'= {
        }
        &'dag;help;retry'= {
        }
        &'dag;help;worker'= {
        }
        &'dag;help;workers'= {
        }
        &'dag;help;queues'= {
        }
        &'dag;help;scheduler'= {
        }
        &'dag;help;wait'= {
        }
        &'dag;help;cancel'= {
        }
        &'dag;help;graph'= {
        }
        &'dag;help;ui'= {
        }
        &'dag;help;init'= {
        }
        &'dag;help;completions'= {
        }
        &'dag;help;man'= {
        }
        &'dag;help;schema'= {
        }
        &'dag;help;pools'= {
        }
        &'dag;help;cache'= {
            cand ls 'List saved results, oldest first'
            cand rm 'Remove saved results: by key (or a unique prefix of one), or every one of a DAG or a task'
            cand prune 'Remove saved results older than a given age'
        }
        &'dag;help;cache;ls'= {
        }
        &'dag;help;cache;rm'= {
        }
        &'dag;help;cache;prune'= {
        }
        &'dag;help;help'= {
        }
    ]
    $completions[$command]
}
