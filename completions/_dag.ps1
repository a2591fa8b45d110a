
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'dag' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'dag'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'dag' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a DAG file')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check DAG files and report every problem')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show the state of a run (the latest one by default)')
            [CompletionResult]::new('runs', 'runs', [CompletionResultType]::ParameterValue, 'List past runs, newest first, each run of a sub-DAG under its parent')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Print the logs of a run''s tasks')
            [CompletionResult]::new('report', 'report', [CompletionResultType]::ParameterValue, 'Write a run''s report: counts, failed tasks with their log tails, the graph coloured by state, the task table')
            [CompletionResult]::new('retry', 'retry', [CompletionResultType]::ParameterValue, 'Run again what did not succeed in a run, under the same run id')
            [CompletionResult]::new('worker', 'worker', [CompletionResultType]::ParameterValue, 'Run tasks of distributed runs, taken from NATS JetStream')
            [CompletionResult]::new('workers', 'workers', [CompletionResultType]::ParameterValue, 'List the workers and the depth of each queue')
            [CompletionResult]::new('queues', 'queues', [CompletionResultType]::ParameterValue, 'Per queue: tasks waiting, running, the live workers serving it, and the tasks waiting where none does (what an autoscaler watches)')
            [CompletionResult]::new('scheduler', 'scheduler', [CompletionResultType]::ParameterValue, 'Drive distributed runs that no process drives: runs submitted with `dag run --detach`, and runs whose driver died (taken over once its lease lapses). Any number of schedulers may share a deployment')
            [CompletionResult]::new('wait', 'wait', [CompletionResultType]::ParameterValue, 'Wait for a run to end, showing its tasks as they change, and exit with the run''s code (0 success, 1 failed, 130 cancelled)')
            [CompletionResult]::new('cancel', 'cancel', [CompletionResultType]::ParameterValue, 'Stop a run: its `dag run` process and its tasks on every worker')
            [CompletionResult]::new('graph', 'graph', [CompletionResultType]::ParameterValue, 'Show a DAG file''s graph, or a run''s with each task''s state, as text, Graphviz DOT or Mermaid')
            [CompletionResult]::new('ui', 'ui', [CompletionResultType]::ParameterValue, 'Serve a web view of the runs in the state store: runs, each run''s graph, timeline, tasks and logs (live), each DAG''s history, the workers, and retry/cancel buttons')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write a commented starter DAG file, dag.yaml, in the current directory')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write man pages for dag and each command')
            [CompletionResult]::new('schema', 'schema', [CompletionResultType]::ParameterValue, 'Print the JSON Schema of the DAG file format, for editors')
            [CompletionResult]::new('pools', 'pools', [CompletionResultType]::ParameterValue, 'List the pools of the runs going on, with their sizes, the tasks holding their slots and the tasks waiting for them (this machine''s runs, or with `--state nats` the deployment''s)')
            [CompletionResult]::new('cache', 'cache', [CompletionResultType]::ParameterValue, 'List and remove the saved results of tasks with `cache:`: this machine''s (beside the file store), or with `--state nats` the workers'' (the NATS object store `dag_cache`)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dag;run' {
            [CompletionResult]::new('--param', '--param', [CompletionResultType]::ParameterName, 'Override a param: KEY=VALUE (repeatable)')
            [CompletionResult]::new('--only', '--only', [CompletionResultType]::ParameterName, 'Run only this task and everything upstream of it (repeatable)')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'How progress is shown on stderr: `auto` draws bars on a terminal (not under CI or TERM=dumb) and prints a timestamped line per change elsewhere; `always` draws bars whenever stderr is a terminal; `never` prints none')
            [CompletionResult]::new('--executor', '--executor', [CompletionResultType]::ParameterName, 'How tasks are executed')
            [CompletionResult]::new('--metrics-addr', '--metrics-addr', [CompletionResultType]::ParameterName, 'Serve Prometheus metrics of the attempts this run hands out (started, retried, redelivered and finished by type, queue and state, durations, queue waits, running) and, for a distributed run, the deployment''s queue depths, at http://ADDR/metrics while it runs, e.g. 127.0.0.1:9091')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Most tasks running at once [default: number of CPUs; 1000 in flight for distributed runs]')
            [CompletionResult]::new('--parallel', '--parallel', [CompletionResultType]::ParameterName, 'Most tasks running at once [default: number of CPUs; 1000 in flight for distributed runs]')
            [CompletionResult]::new('--pool', '--pool', [CompletionResultType]::ParameterName, 'Add a pool, or resize one of the file''s: NAME=SIZE (repeatable; also `$DAG_POOLS`, `NAME=SIZE,...`, and the config file''s `pools`)')
            [CompletionResult]::new('--gpus', '--gpus', [CompletionResultType]::ParameterName, 'GPUs the local and sequential executors give to tasks with `gpus:`: a count (devices 0..N-1), or `auto` (those `nvidia-smi -L` lists, by UUID; none without nvidia-smi). A task needing more than there are is exit 2; one needing more than are free waits. Distributed runs: each worker''s --gpus [default: 0]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'What to print on stdout when the run ends')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'What to print on stdout when the run ends')
            [CompletionResult]::new('--report', '--report', [CompletionResultType]::ParameterName, 'Write a JUnit XML report of the run to FILE when it ends (one test case per task; `dag report --format junit` writes the same later)')
            [CompletionResult]::new('--report-markdown', '--report-markdown', [CompletionResultType]::ParameterName, 'Write the run''s Markdown report (`dag report`) to FILE when it ends, e.g. `$GITHUB_STEP_SUMMARY`')
            [CompletionResult]::new('--report-html', '--report-html', [CompletionResultType]::ParameterName, 'Write the run''s HTML report (`dag report --format html`) to FILE when it ends')
            [CompletionResult]::new('--docker-image', '--docker-image', [CompletionResultType]::ParameterName, 'Image of docker tasks that name none')
            [CompletionResult]::new('--docker-network', '--docker-network', [CompletionResultType]::ParameterName, 'Network of docker tasks that name none')
            [CompletionResult]::new('--docker-memory-mb', '--docker-memory-mb', [CompletionResultType]::ParameterName, 'Memory limit (MiB) of docker tasks that set none')
            [CompletionResult]::new('--docker-cpu-quota', '--docker-cpu-quota', [CompletionResultType]::ParameterName, 'CPU limit of docker tasks that set none, in percent of one CPU (1-100000)')
            [CompletionResult]::new('--docker-volume', '--docker-volume', [CompletionResultType]::ParameterName, 'A bind mount every docker container gets, HOST:CONTAINER or HOST:CONTAINER:OPTIONS (repeatable; $DAG_DOCKER_VOLUMES holds several separated by `;`, since the options themselves are separated by `,`)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the execution plan (order, parallel waves, commands after parameter substitution) and run nothing')
            [CompletionResult]::new('--detach', '--detach', [CompletionResultType]::ParameterName, 'Submit the run and exit 0 at once, printing its id: a `dag scheduler` drives it (with `--executor distributed` and the NATS state store only). Follow it with `dag wait RUN_ID`, `dag status RUN_ID --watch` or `dag logs RUN_ID TASK --follow`, from any machine')
            [CompletionResult]::new('--fail-fast', '--fail-fast', [CompletionResultType]::ParameterName, 'Stop scheduling new tasks after the first task failure')
            [CompletionResult]::new('--no-cache', '--no-cache', [CompletionResultType]::ParameterName, 'Run tasks with `cache:` even when a saved result matches; their new results replace the saved ones')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Stream task output live, each line prefixed with its task id')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Stream task output live, each line prefixed with its task id')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing (same as `--output quiet`): the exit code tells')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing (same as `--output quiet`): the exit code tells')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;validate' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'How problems are told: rendered for people (on stderr), as one JSON document, or as GitHub Actions annotations (`::error file=…,line=…::…`), both on stdout')
            [CompletionResult]::new('--pool', '--pool', [CompletionResultType]::ParameterName, 'Check against this pool too, as `dag run --pool` gives it: NAME=SIZE (repeatable; also `$DAG_POOLS`)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;status' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Keep showing the run as it changes, until it ends')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Keep showing the run as it changes, until it ends')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;runs' {
            [CompletionResult]::new('--dag', '--dag', [CompletionResultType]::ParameterName, 'Only runs of this DAG')
            [CompletionResult]::new('--status', '--status', [CompletionResultType]::ParameterName, 'Only runs in this state')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most this many runs (the runs of sub-DAGs are listed with their parent, not counted)')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only runs created since then: a duration back from now (`2h`, `7d`), a date (`2026-11-01`, UTC) or a time (`2026-11-01T12:00:00Z`)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Delete runs that ended longer ago than a given age')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dag;runs;prune' {
            [CompletionResult]::new('--older-than', '--older-than', [CompletionResultType]::ParameterName, 'Delete runs that ended more than this long ago (e.g. 30d, 12h)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Only list what would be deleted')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;runs;help' {
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Delete runs that ended longer ago than a given age')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dag;runs;help;prune' {
            break
        }
        'dag;runs;help;help' {
            break
        }
        'dag;logs' {
            [CompletionResult]::new('--attempt', '--attempt', [CompletionResultType]::ParameterName, 'Only this attempt [default: every attempt]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Keep printing new output until the run ends')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep printing new output until the run ends')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;report' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Report format')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Write the report to FILE instead of standard output')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Write the report to FILE instead of standard output')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;retry' {
            [CompletionResult]::new('--task', '--task', [CompletionResultType]::ParameterName, 'Re-run this task and everything downstream of it, even if it succeeded [default: every task that did not succeed]')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'How progress is shown on stderr: `auto` draws bars on a terminal (not under CI or TERM=dumb) and prints a timestamped line per change elsewhere; `always` draws bars whenever stderr is a terminal; `never` prints none')
            [CompletionResult]::new('--executor', '--executor', [CompletionResultType]::ParameterName, 'How tasks are executed')
            [CompletionResult]::new('--metrics-addr', '--metrics-addr', [CompletionResultType]::ParameterName, 'Serve Prometheus metrics of the attempts this run hands out (started, retried, redelivered and finished by type, queue and state, durations, queue waits, running) and, for a distributed run, the deployment''s queue depths, at http://ADDR/metrics while it runs, e.g. 127.0.0.1:9091')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Most tasks running at once [default: number of CPUs; 1000 in flight for distributed runs]')
            [CompletionResult]::new('--parallel', '--parallel', [CompletionResultType]::ParameterName, 'Most tasks running at once [default: number of CPUs; 1000 in flight for distributed runs]')
            [CompletionResult]::new('--pool', '--pool', [CompletionResultType]::ParameterName, 'Add a pool, or resize one of the file''s: NAME=SIZE (repeatable; also `$DAG_POOLS`, `NAME=SIZE,...`, and the config file''s `pools`)')
            [CompletionResult]::new('--gpus', '--gpus', [CompletionResultType]::ParameterName, 'GPUs the local and sequential executors give to tasks with `gpus:`: a count (devices 0..N-1), or `auto` (those `nvidia-smi -L` lists, by UUID; none without nvidia-smi). A task needing more than there are is exit 2; one needing more than are free waits. Distributed runs: each worker''s --gpus [default: 0]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'What to print on stdout when the run ends')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'What to print on stdout when the run ends')
            [CompletionResult]::new('--report', '--report', [CompletionResultType]::ParameterName, 'Write a JUnit XML report of the run to FILE when it ends (one test case per task; `dag report --format junit` writes the same later)')
            [CompletionResult]::new('--report-markdown', '--report-markdown', [CompletionResultType]::ParameterName, 'Write the run''s Markdown report (`dag report`) to FILE when it ends, e.g. `$GITHUB_STEP_SUMMARY`')
            [CompletionResult]::new('--report-html', '--report-html', [CompletionResultType]::ParameterName, 'Write the run''s HTML report (`dag report --format html`) to FILE when it ends')
            [CompletionResult]::new('--docker-image', '--docker-image', [CompletionResultType]::ParameterName, 'Image of docker tasks that name none')
            [CompletionResult]::new('--docker-network', '--docker-network', [CompletionResultType]::ParameterName, 'Network of docker tasks that name none')
            [CompletionResult]::new('--docker-memory-mb', '--docker-memory-mb', [CompletionResultType]::ParameterName, 'Memory limit (MiB) of docker tasks that set none')
            [CompletionResult]::new('--docker-cpu-quota', '--docker-cpu-quota', [CompletionResultType]::ParameterName, 'CPU limit of docker tasks that set none, in percent of one CPU (1-100000)')
            [CompletionResult]::new('--docker-volume', '--docker-volume', [CompletionResultType]::ParameterName, 'A bind mount every docker container gets, HOST:CONTAINER or HOST:CONTAINER:OPTIONS (repeatable; $DAG_DOCKER_VOLUMES holds several separated by `;`, since the options themselves are separated by `,`)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('--fail-fast', '--fail-fast', [CompletionResultType]::ParameterName, 'Stop scheduling new tasks after the first task failure')
            [CompletionResult]::new('--no-cache', '--no-cache', [CompletionResultType]::ParameterName, 'Run tasks with `cache:` even when a saved result matches; their new results replace the saved ones')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Stream task output live, each line prefixed with its task id')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Stream task output live, each line prefixed with its task id')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing (same as `--output quiet`): the exit code tells')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing (same as `--output quiet`): the exit code tells')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;worker' {
            [CompletionResult]::new('--workers', '--workers', [CompletionResultType]::ParameterName, 'Tasks run at once')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of tasks that set none')
            [CompletionResult]::new('--gpus', '--gpus', [CompletionResultType]::ParameterName, 'GPUs this worker gives to tasks with `gpus:`: a count (devices 0..N-1), or `auto` (those `nvidia-smi -L` lists, by UUID; none without nvidia-smi). A task needing more than are free waits in the queue [default: 0]')
            [CompletionResult]::new('--queue', '--queue', [CompletionResultType]::ParameterName, 'A queue to serve (repeatable) [default: default]')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Worker id [default: HOST-PID-RANDOM]')
            [CompletionResult]::new('--allow-types', '--allow-types', [CompletionResultType]::ParameterName, 'Task types this worker runs (comma-separated) [default: bash,http,fn,wasm, and docker with --docker]. Other tasks fail with the reason')
            [CompletionResult]::new('--allow-volume', '--allow-volume', [CompletionResultType]::ParameterName, 'Host paths docker tasks may bind-mount and wasm tasks may be granted (`dirs`): a volume or dir whose host path is not under one of these prefixes fails its task (repeatable; each an existing directory, resolved at start) [default: any]')
            [CompletionResult]::new('--allow-network', '--allow-network', [CompletionResultType]::ParameterName, 'Networks docker tasks may name in `network:` (repeatable) [default: bridge, default, none, and the --docker-network]. `host` and `container:NAME` must be named to be allowed. Other tasks fail with the reason')
            [CompletionResult]::new('--shutdown-timeout', '--shutdown-timeout', [CompletionResultType]::ParameterName, 'On SIGTERM, how long running tasks may take to finish before they are stopped and handed back to the queue')
            [CompletionResult]::new('--exit-when-idle', '--exit-when-idle', [CompletionResultType]::ParameterName, 'Exit (0) once no task has run here for this long, as after SIGTERM: for autoscalers that scale workers to zero [default: never]')
            [CompletionResult]::new('--metrics-addr', '--metrics-addr', [CompletionResultType]::ParameterName, 'Serve Prometheus metrics (tasks by type, queue and state, durations, queue waits, running tasks, free slots, queue depths) at http://ADDR/metrics, e.g. 127.0.0.1:9090')
            [CompletionResult]::new('--docker-image', '--docker-image', [CompletionResultType]::ParameterName, 'Image of docker tasks that name none')
            [CompletionResult]::new('--docker-network', '--docker-network', [CompletionResultType]::ParameterName, 'Network of docker tasks that name none')
            [CompletionResult]::new('--docker-memory-mb', '--docker-memory-mb', [CompletionResultType]::ParameterName, 'Memory limit (MiB) of docker tasks that set none')
            [CompletionResult]::new('--docker-cpu-quota', '--docker-cpu-quota', [CompletionResultType]::ParameterName, 'CPU limit of docker tasks that set none, in percent of one CPU (1-100000)')
            [CompletionResult]::new('--docker-volume', '--docker-volume', [CompletionResultType]::ParameterName, 'A bind mount every docker container gets, HOST:CONTAINER or HOST:CONTAINER:OPTIONS (repeatable; $DAG_DOCKER_VOLUMES holds several separated by `;`, since the options themselves are separated by `,`)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('--docker', '--docker', [CompletionResultType]::ParameterName, 'Run docker tasks (off by default: only workers started with --docker get them)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;workers' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;queues' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;scheduler' {
            [CompletionResult]::new('--max-runs', '--max-runs', [CompletionResultType]::ParameterName, 'Most runs this scheduler drives at once; further runs wait for another scheduler or a free place here')
            [CompletionResult]::new('--metrics-addr', '--metrics-addr', [CompletionResultType]::ParameterName, 'Serve Prometheus metrics of the attempts this scheduler hands out (started, retried, redelivered and finished by type, queue and state, durations, queue waits, running) and the deployment''s queue depths, at http://ADDR/metrics, e.g. 127.0.0.1:9091')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;wait' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: the task table as it changes, then the result as `dag run` prints it (`table`); the final record (`json`); nothing (`quiet`)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: the task table as it changes, then the result as `dag run` prints it (`table`); the final record (`json`); nothing (`quiet`)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;cancel' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;graph' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;ui' {
            [CompletionResult]::new('--bind', '--bind', [CompletionResultType]::ParameterName, 'The address to listen on. Any address but a loopback one needs a token')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'A secret every request must carry (at least 16 letters, digits, `-`, `.`, `_` or `~`; required when binding an address other than loopback). Open the page once as `http://HOST:PORT/?token=TOKEN`: the browser then keeps it in a cookie. Programs send `Authorization: Bearer TOKEN`')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('--read-only', '--read-only', [CompletionResultType]::ParameterName, 'Show runs, but offer no retry or cancel')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;init' {
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'Write it here instead')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;completions' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;man' {
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Directory to write the pages to')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;schema' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;pools' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;cache' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List saved results, oldest first')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove saved results: by key (or a unique prefix of one), or every one of a DAG or a task')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Remove saved results older than a given age')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dag;cache;ls' {
            [CompletionResult]::new('--dag', '--dag', [CompletionResultType]::ParameterName, 'Only results saved by tasks of this DAG')
            [CompletionResult]::new('--task', '--task', [CompletionResultType]::ParameterName, 'Only results of this task (or, for a mapped task''s id, of its instances)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;cache;rm' {
            [CompletionResult]::new('--dag', '--dag', [CompletionResultType]::ParameterName, 'Only results saved by tasks of this DAG')
            [CompletionResult]::new('--task', '--task', [CompletionResultType]::ParameterName, 'Only results of this task (or, for a mapped task''s id, of its instances)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Remove every saved result')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;cache;prune' {
            [CompletionResult]::new('--older-than', '--older-than', [CompletionResultType]::ParameterName, 'Remove results saved more than this long ago (e.g. 7d, 12h)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`''s)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Where run state is kept [default: nats for `--executor distributed`, else file]')
            [CompletionResult]::new('--nats', '--nats', [CompletionResultType]::ParameterName, 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'A NATS credentials file (JWT and NKey seed)')
            [CompletionResult]::new('--nats-ca', '--nats-ca', [CompletionResultType]::ParameterName, 'A CA certificate (PEM) to trust for TLS to NATS')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Only list what would be removed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dag;cache;help' {
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List saved results, oldest first')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove saved results: by key (or a unique prefix of one), or every one of a DAG or a task')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Remove saved results older than a given age')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dag;cache;help;ls' {
            break
        }
        'dag;cache;help;rm' {
            break
        }
        'dag;cache;help;prune' {
            break
        }
        'dag;cache;help;help' {
            break
        }
        'dag;help' {
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a DAG file')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check DAG files and report every problem')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show the state of a run (the latest one by default)')
            [CompletionResult]::new('runs', 'runs', [CompletionResultType]::ParameterValue, 'List past runs, newest first, each run of a sub-DAG under its parent')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Print the logs of a run''s tasks')
            [CompletionResult]::new('report', 'report', [CompletionResultType]::ParameterValue, 'Write a run''s report: counts, failed tasks with their log tails, the graph coloured by state, the task table')
            [CompletionResult]::new('retry', 'retry', [CompletionResultType]::ParameterValue, 'Run again what did not succeed in a run, under the same run id')
            [CompletionResult]::new('worker', 'worker', [CompletionResultType]::ParameterValue, 'Run tasks of distributed runs, taken from NATS JetStream')
            [CompletionResult]::new('workers', 'workers', [CompletionResultType]::ParameterValue, 'List the workers and the depth of each queue')
            [CompletionResult]::new('queues', 'queues', [CompletionResultType]::ParameterValue, 'Per queue: tasks waiting, running, the live workers serving it, and the tasks waiting where none does (what an autoscaler watches)')
            [CompletionResult]::new('scheduler', 'scheduler', [CompletionResultType]::ParameterValue, 'Drive distributed runs that no process drives: runs submitted with `dag run --detach`, and runs whose driver died (taken over once its lease lapses). Any number of schedulers may share a deployment')
            [CompletionResult]::new('wait', 'wait', [CompletionResultType]::ParameterValue, 'Wait for a run to end, showing its tasks as they change, and exit with the run''s code (0 success, 1 failed, 130 cancelled)')
            [CompletionResult]::new('cancel', 'cancel', [CompletionResultType]::ParameterValue, 'Stop a run: its `dag run` process and its tasks on every worker')
            [CompletionResult]::new('graph', 'graph', [CompletionResultType]::ParameterValue, 'Show a DAG file''s graph, or a run''s with each task''s state, as text, Graphviz DOT or Mermaid')
            [CompletionResult]::new('ui', 'ui', [CompletionResultType]::ParameterValue, 'Serve a web view of the runs in the state store: runs, each run''s graph, timeline, tasks and logs (live), each DAG''s history, the workers, and retry/cancel buttons')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write a commented starter DAG file, dag.yaml, in the current directory')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write man pages for dag and each command')
            [CompletionResult]::new('schema', 'schema', [CompletionResultType]::ParameterValue, 'Print the JSON Schema of the DAG file format, for editors')
            [CompletionResult]::new('pools', 'pools', [CompletionResultType]::ParameterValue, 'List the pools of the runs going on, with their sizes, the tasks holding their slots and the tasks waiting for them (this machine''s runs, or with `--state nats` the deployment''s)')
            [CompletionResult]::new('cache', 'cache', [CompletionResultType]::ParameterValue, 'List and remove the saved results of tasks with `cache:`: this machine''s (beside the file store), or with `--state nats` the workers'' (the NATS object store `dag_cache`)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dag;help;run' {
            break
        }
        'dag;help;validate' {
            break
        }
        'dag;help;status' {
            break
        }
        'dag;help;runs' {
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Delete runs that ended longer ago than a given age')
            break
        }
        'dag;help;runs;prune' {
            break
        }
        'dag;help;logs' {
            break
        }
        'dag;help;report' {
            break
        }
        'dag;help;retry' {
            break
        }
        'dag;help;worker' {
            break
        }
        'dag;help;workers' {
            break
        }
        'dag;help;queues' {
            break
        }
        'dag;help;scheduler' {
            break
        }
        'dag;help;wait' {
            break
        }
        'dag;help;cancel' {
            break
        }
        'dag;help;graph' {
            break
        }
        'dag;help;ui' {
            break
        }
        'dag;help;init' {
            break
        }
        'dag;help;completions' {
            break
        }
        'dag;help;man' {
            break
        }
        'dag;help;schema' {
            break
        }
        'dag;help;pools' {
            break
        }
        'dag;help;cache' {
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List saved results, oldest first')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove saved results: by key (or a unique prefix of one), or every one of a DAG or a task')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Remove saved results older than a given age')
            break
        }
        'dag;help;cache;ls' {
            break
        }
        'dag;help;cache;rm' {
            break
        }
        'dag;help;cache;prune' {
            break
        }
        'dag;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
