# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_dag_global_optspecs
    string join \n state-dir= color= config= state= nats= nats-creds= nats-ca= replicas= h/help V/version
end

function __fish_dag_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_dag_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_dag_using_subcommand
    set -l cmd (__fish_dag_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c dag -n "__fish_dag_needs_command" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_needs_command" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_needs_command" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_needs_command" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_needs_command" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_needs_command" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_needs_command" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_needs_command" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_needs_command" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_needs_command" -f -a "run" -d 'Run a DAG file'
complete -c dag -n "__fish_dag_needs_command" -f -a "validate" -d 'Check DAG files and report every problem'
complete -c dag -n "__fish_dag_needs_command" -f -a "status" -d 'Show the state of a run (the latest one by default)'
complete -c dag -n "__fish_dag_needs_command" -f -a "runs" -d 'List past runs, newest first, each run of a sub-DAG under its parent'
complete -c dag -n "__fish_dag_needs_command" -f -a "logs" -d 'Print the logs of a run\'s tasks'
complete -c dag -n "__fish_dag_needs_command" -f -a "report" -d 'Write a run\'s report: counts, failed tasks with their log tails, the graph coloured by state, the task table'
complete -c dag -n "__fish_dag_needs_command" -f -a "retry" -d 'Run again what did not succeed in a run, under the same run id'
complete -c dag -n "__fish_dag_needs_command" -f -a "worker" -d 'Run tasks of distributed runs, taken from NATS JetStream'
complete -c dag -n "__fish_dag_needs_command" -f -a "workers" -d 'List the workers and the depth of each queue'
complete -c dag -n "__fish_dag_needs_command" -f -a "queues" -d 'Per queue: tasks waiting, running, the live workers serving it, and the tasks waiting where none does (what an autoscaler watches)'
complete -c dag -n "__fish_dag_needs_command" -f -a "scheduler" -d 'Drive distributed runs that no process drives: runs submitted with `dag run --detach`, and runs whose driver died (taken over once its lease lapses). Any number of schedulers may share a deployment'
complete -c dag -n "__fish_dag_needs_command" -f -a "wait" -d 'Wait for a run to end, showing its tasks as they change, and exit with the run\'s code (0 success, 1 failed, 130 cancelled)'
complete -c dag -n "__fish_dag_needs_command" -f -a "cancel" -d 'Stop a run: its `dag run` process and its tasks on every worker'
complete -c dag -n "__fish_dag_needs_command" -f -a "graph" -d 'Show a DAG file\'s graph, or a run\'s with each task\'s state, as text, Graphviz DOT or Mermaid'
complete -c dag -n "__fish_dag_needs_command" -f -a "ui" -d 'Serve a web view of the runs in the state store: runs, each run\'s graph, timeline, tasks and logs (live), each DAG\'s history, the workers, and retry/cancel buttons'
complete -c dag -n "__fish_dag_needs_command" -f -a "init" -d 'Write a commented starter DAG file, dag.yaml, in the current directory'
complete -c dag -n "__fish_dag_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c dag -n "__fish_dag_needs_command" -f -a "man" -d 'Write man pages for dag and each command'
complete -c dag -n "__fish_dag_needs_command" -f -a "schema" -d 'Print the JSON Schema of the DAG file format, for editors'
complete -c dag -n "__fish_dag_needs_command" -f -a "pools" -d 'List the pools of the runs going on, with their sizes, the tasks holding their slots and the tasks waiting for them (this machine\'s runs, or with `--state nats` the deployment\'s)'
complete -c dag -n "__fish_dag_needs_command" -f -a "cache" -d 'List and remove the saved results of tasks with `cache:`: this machine\'s (beside the file store), or with `--state nats` the workers\' (the NATS object store `dag_cache`)'
complete -c dag -n "__fish_dag_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dag -n "__fish_dag_using_subcommand run" -l param -d 'Override a param: KEY=VALUE (repeatable)' -r
complete -c dag -n "__fish_dag_using_subcommand run" -l only -d 'Run only this task and everything upstream of it (repeatable)' -r
complete -c dag -n "__fish_dag_using_subcommand run" -l progress -d 'How progress is shown on stderr: `auto` draws bars on a terminal (not under CI or TERM=dumb) and prints a timestamped line per change elsewhere; `always` draws bars whenever stderr is a terminal; `never` prints none' -r -f -a "auto\t'Bars on a terminal, lines elsewhere'
always\t'Bars on any terminal (CI or not), lines elsewhere'
never\t'No progress'"
complete -c dag -n "__fish_dag_using_subcommand run" -l executor -d 'How tasks are executed' -r -f -a "sequential\t'One task at a time, in a fixed order'
local\t'Up to --parallel tasks at once on this machine'
distributed\t'On `dag worker` processes, through NATS JetStream'"
complete -c dag -n "__fish_dag_using_subcommand run" -l metrics-addr -d 'Serve Prometheus metrics of the attempts this run hands out (started, retried, redelivered and finished by type, queue and state, durations, queue waits, running) and, for a distributed run, the deployment\'s queue depths, at http://ADDR/metrics while it runs, e.g. 127.0.0.1:9091' -r
complete -c dag -n "__fish_dag_using_subcommand run" -s p -l parallel -d 'Most tasks running at once [default: number of CPUs; 1000 in flight for distributed runs]' -r
complete -c dag -n "__fish_dag_using_subcommand run" -l pool -d 'Add a pool, or resize one of the file\'s: NAME=SIZE (repeatable; also `$DAG_POOLS`, `NAME=SIZE,...`, and the config file\'s `pools`)' -r
complete -c dag -n "__fish_dag_using_subcommand run" -l gpus -d 'GPUs the local and sequential executors give to tasks with `gpus:`: a count (devices 0..N-1), or `auto` (those `nvidia-smi -L` lists, by UUID; none without nvidia-smi). A task needing more than there are is exit 2; one needing more than are free waits. Distributed runs: each worker\'s --gpus [default: 0]' -r
complete -c dag -n "__fish_dag_using_subcommand run" -s o -l output -d 'What to print on stdout when the run ends' -r -f -a "table\t'A result table'
json\t'One JSON document'
quiet\t'Nothing; the exit code tells'"
complete -c dag -n "__fish_dag_using_subcommand run" -l report -d 'Write a JUnit XML report of the run to FILE when it ends (one test case per task; `dag report --format junit` writes the same later)' -r -F
complete -c dag -n "__fish_dag_using_subcommand run" -l report-markdown -d 'Write the run\'s Markdown report (`dag report`) to FILE when it ends, e.g. `$GITHUB_STEP_SUMMARY`' -r -F
complete -c dag -n "__fish_dag_using_subcommand run" -l report-html -d 'Write the run\'s HTML report (`dag report --format html`) to FILE when it ends' -r -F
complete -c dag -n "__fish_dag_using_subcommand run" -l docker-image -d 'Image of docker tasks that name none' -r
complete -c dag -n "__fish_dag_using_subcommand run" -l docker-network -d 'Network of docker tasks that name none' -r
complete -c dag -n "__fish_dag_using_subcommand run" -l docker-memory-mb -d 'Memory limit (MiB) of docker tasks that set none' -r
complete -c dag -n "__fish_dag_using_subcommand run" -l docker-cpu-quota -d 'CPU limit of docker tasks that set none, in percent of one CPU (1-100000)' -r
complete -c dag -n "__fish_dag_using_subcommand run" -l docker-volume -d 'A bind mount every docker container gets, HOST:CONTAINER or HOST:CONTAINER:OPTIONS (repeatable; $DAG_DOCKER_VOLUMES holds several separated by `;`, since the options themselves are separated by `,`)' -r
complete -c dag -n "__fish_dag_using_subcommand run" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand run" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand run" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand run" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand run" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand run" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand run" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand run" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand run" -l dry-run -d 'Print the execution plan (order, parallel waves, commands after parameter substitution) and run nothing'
complete -c dag -n "__fish_dag_using_subcommand run" -l detach -d 'Submit the run and exit 0 at once, printing its id: a `dag scheduler` drives it (with `--executor distributed` and the NATS state store only). Follow it with `dag wait RUN_ID`, `dag status RUN_ID --watch` or `dag logs RUN_ID TASK --follow`, from any machine'
complete -c dag -n "__fish_dag_using_subcommand run" -l fail-fast -d 'Stop scheduling new tasks after the first task failure'
complete -c dag -n "__fish_dag_using_subcommand run" -l no-cache -d 'Run tasks with `cache:` even when a saved result matches; their new results replace the saved ones'
complete -c dag -n "__fish_dag_using_subcommand run" -s v -l verbose -d 'Stream task output live, each line prefixed with its task id'
complete -c dag -n "__fish_dag_using_subcommand run" -s q -l quiet -d 'Print nothing (same as `--output quiet`): the exit code tells'
complete -c dag -n "__fish_dag_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand run" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand validate" -l format -d 'How problems are told: rendered for people (on stderr), as one JSON document, or as GitHub Actions annotations (`::error file=…,line=…::…`), both on stdout' -r -f -a "text\t'Each problem with its source lines'
json\t'`{"files": [{"file", "ok", "problems": [{"message", "line", ...}]}]}`'
github\t'GitHub Actions workflow commands: an annotation per problem'"
complete -c dag -n "__fish_dag_using_subcommand validate" -l pool -d 'Check against this pool too, as `dag run --pool` gives it: NAME=SIZE (repeatable; also `$DAG_POOLS`)' -r
complete -c dag -n "__fish_dag_using_subcommand validate" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand validate" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand validate" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand validate" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand validate" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand validate" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand validate" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand validate" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand validate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand validate" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand status" -s o -l output -d 'Output format' -r -f -a "table\t'A result table'
json\t'One JSON document'
quiet\t'Nothing; the exit code tells'"
complete -c dag -n "__fish_dag_using_subcommand status" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand status" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand status" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand status" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand status" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand status" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand status" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand status" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand status" -s w -l watch -d 'Keep showing the run as it changes, until it ends'
complete -c dag -n "__fish_dag_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand status" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -l dag -d 'Only runs of this DAG' -r
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -l status -d 'Only runs in this state' -r -f -a "queued\t'Created, not started'
running\t'Being driven (or interrupted)'
success\t'Succeeded'
failed\t'A task failed'
cancelled\t'Stopped by the user'"
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -l limit -d 'At most this many runs (the runs of sub-DAGs are listed with their parent, not counted)' -r
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -l since -d 'Only runs created since then: a duration back from now (`2h`, `7d`), a date (`2026-11-01`, UTC) or a time (`2026-11-01T12:00:00Z`)' -r
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -s o -l output -d 'Output format' -r -f -a "table\t'A result table'
json\t'One JSON document'
quiet\t'Nothing; the exit code tells'"
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -f -a "prune" -d 'Delete runs that ended longer ago than a given age'
complete -c dag -n "__fish_dag_using_subcommand runs; and not __fish_seen_subcommand_from prune help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dag -n "__fish_dag_using_subcommand runs; and __fish_seen_subcommand_from prune" -l older-than -d 'Delete runs that ended more than this long ago (e.g. 30d, 12h)' -r
complete -c dag -n "__fish_dag_using_subcommand runs; and __fish_seen_subcommand_from prune" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand runs; and __fish_seen_subcommand_from prune" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand runs; and __fish_seen_subcommand_from prune" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand runs; and __fish_seen_subcommand_from prune" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand runs; and __fish_seen_subcommand_from prune" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand runs; and __fish_seen_subcommand_from prune" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand runs; and __fish_seen_subcommand_from prune" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand runs; and __fish_seen_subcommand_from prune" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand runs; and __fish_seen_subcommand_from prune" -l dry-run -d 'Only list what would be deleted'
complete -c dag -n "__fish_dag_using_subcommand runs; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand runs; and __fish_seen_subcommand_from prune" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand runs; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Delete runs that ended longer ago than a given age'
complete -c dag -n "__fish_dag_using_subcommand runs; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dag -n "__fish_dag_using_subcommand logs" -l attempt -d 'Only this attempt [default: every attempt]' -r
complete -c dag -n "__fish_dag_using_subcommand logs" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand logs" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand logs" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand logs" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand logs" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand logs" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand logs" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand logs" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand logs" -s f -l follow -d 'Keep printing new output until the run ends'
complete -c dag -n "__fish_dag_using_subcommand logs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand logs" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand report" -l format -d 'Report format' -r -f -a "markdown\t'GitHub-flavoured Markdown with a Mermaid graph (for `$GITHUB_STEP_SUMMARY` and merge-request comments)'
html\t'One self-contained HTML page (graph, timeline, failed tasks\' logs, task table) that loads nothing from anywhere, for CI artifacts'
junit\t'JUnit XML, as `dag run --report` writes it (Jenkins, GitLab and other CI systems read it)'"
complete -c dag -n "__fish_dag_using_subcommand report" -s o -l out -d 'Write the report to FILE instead of standard output' -r -F
complete -c dag -n "__fish_dag_using_subcommand report" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand report" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand report" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand report" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand report" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand report" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand report" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand report" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand report" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand report" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand retry" -l task -d 'Re-run this task and everything downstream of it, even if it succeeded [default: every task that did not succeed]' -r
complete -c dag -n "__fish_dag_using_subcommand retry" -l progress -d 'How progress is shown on stderr: `auto` draws bars on a terminal (not under CI or TERM=dumb) and prints a timestamped line per change elsewhere; `always` draws bars whenever stderr is a terminal; `never` prints none' -r -f -a "auto\t'Bars on a terminal, lines elsewhere'
always\t'Bars on any terminal (CI or not), lines elsewhere'
never\t'No progress'"
complete -c dag -n "__fish_dag_using_subcommand retry" -l executor -d 'How tasks are executed' -r -f -a "sequential\t'One task at a time, in a fixed order'
local\t'Up to --parallel tasks at once on this machine'
distributed\t'On `dag worker` processes, through NATS JetStream'"
complete -c dag -n "__fish_dag_using_subcommand retry" -l metrics-addr -d 'Serve Prometheus metrics of the attempts this run hands out (started, retried, redelivered and finished by type, queue and state, durations, queue waits, running) and, for a distributed run, the deployment\'s queue depths, at http://ADDR/metrics while it runs, e.g. 127.0.0.1:9091' -r
complete -c dag -n "__fish_dag_using_subcommand retry" -s p -l parallel -d 'Most tasks running at once [default: number of CPUs; 1000 in flight for distributed runs]' -r
complete -c dag -n "__fish_dag_using_subcommand retry" -l pool -d 'Add a pool, or resize one of the file\'s: NAME=SIZE (repeatable; also `$DAG_POOLS`, `NAME=SIZE,...`, and the config file\'s `pools`)' -r
complete -c dag -n "__fish_dag_using_subcommand retry" -l gpus -d 'GPUs the local and sequential executors give to tasks with `gpus:`: a count (devices 0..N-1), or `auto` (those `nvidia-smi -L` lists, by UUID; none without nvidia-smi). A task needing more than there are is exit 2; one needing more than are free waits. Distributed runs: each worker\'s --gpus [default: 0]' -r
complete -c dag -n "__fish_dag_using_subcommand retry" -s o -l output -d 'What to print on stdout when the run ends' -r -f -a "table\t'A result table'
json\t'One JSON document'
quiet\t'Nothing; the exit code tells'"
complete -c dag -n "__fish_dag_using_subcommand retry" -l report -d 'Write a JUnit XML report of the run to FILE when it ends (one test case per task; `dag report --format junit` writes the same later)' -r -F
complete -c dag -n "__fish_dag_using_subcommand retry" -l report-markdown -d 'Write the run\'s Markdown report (`dag report`) to FILE when it ends, e.g. `$GITHUB_STEP_SUMMARY`' -r -F
complete -c dag -n "__fish_dag_using_subcommand retry" -l report-html -d 'Write the run\'s HTML report (`dag report --format html`) to FILE when it ends' -r -F
complete -c dag -n "__fish_dag_using_subcommand retry" -l docker-image -d 'Image of docker tasks that name none' -r
complete -c dag -n "__fish_dag_using_subcommand retry" -l docker-network -d 'Network of docker tasks that name none' -r
complete -c dag -n "__fish_dag_using_subcommand retry" -l docker-memory-mb -d 'Memory limit (MiB) of docker tasks that set none' -r
complete -c dag -n "__fish_dag_using_subcommand retry" -l docker-cpu-quota -d 'CPU limit of docker tasks that set none, in percent of one CPU (1-100000)' -r
complete -c dag -n "__fish_dag_using_subcommand retry" -l docker-volume -d 'A bind mount every docker container gets, HOST:CONTAINER or HOST:CONTAINER:OPTIONS (repeatable; $DAG_DOCKER_VOLUMES holds several separated by `;`, since the options themselves are separated by `,`)' -r
complete -c dag -n "__fish_dag_using_subcommand retry" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand retry" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand retry" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand retry" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand retry" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand retry" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand retry" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand retry" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand retry" -l fail-fast -d 'Stop scheduling new tasks after the first task failure'
complete -c dag -n "__fish_dag_using_subcommand retry" -l no-cache -d 'Run tasks with `cache:` even when a saved result matches; their new results replace the saved ones'
complete -c dag -n "__fish_dag_using_subcommand retry" -s v -l verbose -d 'Stream task output live, each line prefixed with its task id'
complete -c dag -n "__fish_dag_using_subcommand retry" -s q -l quiet -d 'Print nothing (same as `--output quiet`): the exit code tells'
complete -c dag -n "__fish_dag_using_subcommand retry" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand retry" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand worker" -l workers -d 'Tasks run at once' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l timeout -d 'Timeout of tasks that set none' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l gpus -d 'GPUs this worker gives to tasks with `gpus:`: a count (devices 0..N-1), or `auto` (those `nvidia-smi -L` lists, by UUID; none without nvidia-smi). A task needing more than are free waits in the queue [default: 0]' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l queue -d 'A queue to serve (repeatable) [default: default]' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l name -d 'Worker id [default: HOST-PID-RANDOM]' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l allow-types -d 'Task types this worker runs (comma-separated) [default: bash,http,fn,wasm, and docker with --docker]. Other tasks fail with the reason' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l allow-volume -d 'Host paths docker tasks may bind-mount and wasm tasks may be granted (`dirs`): a volume or dir whose host path is not under one of these prefixes fails its task (repeatable; each an existing directory, resolved at start) [default: any]' -r -F
complete -c dag -n "__fish_dag_using_subcommand worker" -l allow-network -d 'Networks docker tasks may name in `network:` (repeatable) [default: bridge, default, none, and the --docker-network]. `host` and `container:NAME` must be named to be allowed. Other tasks fail with the reason' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l shutdown-timeout -d 'On SIGTERM, how long running tasks may take to finish before they are stopped and handed back to the queue' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l exit-when-idle -d 'Exit (0) once no task has run here for this long, as after SIGTERM: for autoscalers that scale workers to zero [default: never]' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l metrics-addr -d 'Serve Prometheus metrics (tasks by type, queue and state, durations, queue waits, running tasks, free slots, queue depths) at http://ADDR/metrics, e.g. 127.0.0.1:9090' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l docker-image -d 'Image of docker tasks that name none' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l docker-network -d 'Network of docker tasks that name none' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l docker-memory-mb -d 'Memory limit (MiB) of docker tasks that set none' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l docker-cpu-quota -d 'CPU limit of docker tasks that set none, in percent of one CPU (1-100000)' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l docker-volume -d 'A bind mount every docker container gets, HOST:CONTAINER or HOST:CONTAINER:OPTIONS (repeatable; $DAG_DOCKER_VOLUMES holds several separated by `;`, since the options themselves are separated by `,`)' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand worker" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand worker" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand worker" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand worker" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand worker" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand worker" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand worker" -l docker -d 'Run docker tasks (off by default: only workers started with --docker get them)'
complete -c dag -n "__fish_dag_using_subcommand worker" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand worker" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand workers" -s o -l output -d 'Output format' -r -f -a "table\t'A result table'
json\t'One JSON document'
quiet\t'Nothing; the exit code tells'"
complete -c dag -n "__fish_dag_using_subcommand workers" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand workers" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand workers" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand workers" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand workers" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand workers" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand workers" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand workers" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand workers" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand workers" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand queues" -s o -l output -d 'Output format' -r -f -a "table\t'A result table'
json\t'One JSON document'
quiet\t'Nothing; the exit code tells'"
complete -c dag -n "__fish_dag_using_subcommand queues" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand queues" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand queues" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand queues" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand queues" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand queues" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand queues" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand queues" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand queues" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand queues" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand scheduler" -l max-runs -d 'Most runs this scheduler drives at once; further runs wait for another scheduler or a free place here' -r
complete -c dag -n "__fish_dag_using_subcommand scheduler" -l metrics-addr -d 'Serve Prometheus metrics of the attempts this scheduler hands out (started, retried, redelivered and finished by type, queue and state, durations, queue waits, running) and the deployment\'s queue depths, at http://ADDR/metrics, e.g. 127.0.0.1:9091' -r
complete -c dag -n "__fish_dag_using_subcommand scheduler" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand scheduler" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand scheduler" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand scheduler" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand scheduler" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand scheduler" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand scheduler" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand scheduler" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand scheduler" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand scheduler" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand wait" -s o -l output -d 'Output format: the task table as it changes, then the result as `dag run` prints it (`table`); the final record (`json`); nothing (`quiet`)' -r -f -a "table\t'A result table'
json\t'One JSON document'
quiet\t'Nothing; the exit code tells'"
complete -c dag -n "__fish_dag_using_subcommand wait" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand wait" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand wait" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand wait" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand wait" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand wait" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand wait" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand wait" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand wait" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand wait" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand cancel" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand cancel" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand cancel" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand cancel" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand cancel" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand cancel" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand cancel" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand cancel" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand cancel" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand cancel" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand graph" -l format -d 'Output format' -r -f -a "text\t'A readable tree of the tasks in order, with their dependencies'
dot\t'Graphviz DOT (`dag graph f.yaml --format dot | dot -Tsvg > f.svg`)'
mermaid\t'A Mermaid flowchart (for Markdown)'
json\t'JSON: the tasks (or, for a run, the nodes with their states) and what each waits for'"
complete -c dag -n "__fish_dag_using_subcommand graph" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand graph" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand graph" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand graph" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand graph" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand graph" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand graph" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand graph" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand graph" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand graph" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand ui" -l bind -d 'The address to listen on. Any address but a loopback one needs a token' -r
complete -c dag -n "__fish_dag_using_subcommand ui" -l token -d 'A secret every request must carry (at least 16 letters, digits, `-`, `.`, `_` or `~`; required when binding an address other than loopback). Open the page once as `http://HOST:PORT/?token=TOKEN`: the browser then keeps it in a cookie. Programs send `Authorization: Bearer TOKEN`' -r
complete -c dag -n "__fish_dag_using_subcommand ui" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand ui" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand ui" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand ui" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand ui" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand ui" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand ui" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand ui" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand ui" -l read-only -d 'Show runs, but offer no retry or cancel'
complete -c dag -n "__fish_dag_using_subcommand ui" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand ui" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand init" -l file -d 'Write it here instead' -r -F
complete -c dag -n "__fish_dag_using_subcommand init" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand init" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand init" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand init" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand init" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand init" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand init" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand init" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand init" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand completions" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand completions" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand completions" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand completions" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand completions" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand completions" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand completions" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand completions" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand completions" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand man" -l out -d 'Directory to write the pages to' -r -F
complete -c dag -n "__fish_dag_using_subcommand man" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand man" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand man" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand man" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand man" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand man" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand man" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand man" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand man" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand schema" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand schema" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand schema" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand schema" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand schema" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand schema" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand schema" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand schema" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand schema" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand schema" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand pools" -s o -l output -d 'Output format' -r -f -a "table\t'A result table'
json\t'One JSON document'
quiet\t'Nothing; the exit code tells'"
complete -c dag -n "__fish_dag_using_subcommand pools" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand pools" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand pools" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand pools" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand pools" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand pools" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand pools" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand pools" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand pools" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand pools" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand cache; and not __fish_seen_subcommand_from ls rm prune help" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand cache; and not __fish_seen_subcommand_from ls rm prune help" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand cache; and not __fish_seen_subcommand_from ls rm prune help" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand cache; and not __fish_seen_subcommand_from ls rm prune help" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand cache; and not __fish_seen_subcommand_from ls rm prune help" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand cache; and not __fish_seen_subcommand_from ls rm prune help" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand cache; and not __fish_seen_subcommand_from ls rm prune help" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand cache; and not __fish_seen_subcommand_from ls rm prune help" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand cache; and not __fish_seen_subcommand_from ls rm prune help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand cache; and not __fish_seen_subcommand_from ls rm prune help" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand cache; and not __fish_seen_subcommand_from ls rm prune help" -f -a "ls" -d 'List saved results, oldest first'
complete -c dag -n "__fish_dag_using_subcommand cache; and not __fish_seen_subcommand_from ls rm prune help" -f -a "rm" -d 'Remove saved results: by key (or a unique prefix of one), or every one of a DAG or a task'
complete -c dag -n "__fish_dag_using_subcommand cache; and not __fish_seen_subcommand_from ls rm prune help" -f -a "prune" -d 'Remove saved results older than a given age'
complete -c dag -n "__fish_dag_using_subcommand cache; and not __fish_seen_subcommand_from ls rm prune help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from ls" -l dag -d 'Only results saved by tasks of this DAG' -r
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from ls" -l task -d 'Only results of this task (or, for a mapped task\'s id, of its instances)' -r
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format' -r -f -a "table\t'A result table'
json\t'One JSON document'
quiet\t'Nothing; the exit code tells'"
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from ls" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from ls" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from ls" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from ls" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from ls" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from ls" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from ls" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from ls" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from ls" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from rm" -l dag -d 'Only results saved by tasks of this DAG' -r
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from rm" -l task -d 'Only results of this task (or, for a mapped task\'s id, of its instances)' -r
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from rm" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from rm" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from rm" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from rm" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from rm" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from rm" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from rm" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from rm" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from rm" -l all -d 'Remove every saved result'
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from rm" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from prune" -l older-than -d 'Remove results saved more than this long ago (e.g. 7d, 12h)' -r
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from prune" -l state-dir -d 'Directory of the file state store [default: $DAG_HOME, else the platform data directory, e.g. ~/.local/share/dag]' -r -F
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from prune" -l color -d 'When to use colour (`NO_COLOR` turns it off; progress is `--progress`\'s)' -r -f -a "auto\t'On a terminal, unless `NO_COLOR` or `CI` is set'
always\t'Always'
never\t'Never'"
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from prune" -l config -d 'A config file of defaults [default: $DAG_CONFIG, else e.g. ~/.config/dag/config.yaml]' -r -F
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from prune" -l state -d 'Where run state is kept [default: nats for `--executor distributed`, else file]' -r -f -a "file\t'Files under the state directory'
nats\t'The NATS KV bucket `dag_runs`'"
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from prune" -l nats -d 'NATS server URL(s), comma-separated; `user:password@` or `token@` may come before the host; `tls://` requires TLS' -r
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from prune" -l nats-creds -d 'A NATS credentials file (JWT and NKey seed)' -r -F
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from prune" -l nats-ca -d 'A CA certificate (PEM) to trust for TLS to NATS' -r -F
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from prune" -l replicas -d 'Copies a JetStream cluster keeps of each stream and bucket dag creates, 1 to 5 (3 on a 3-node cluster); existing ones keep theirs [default: 1]' -r
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from prune" -l dry-run -d 'Only list what would be removed'
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from prune" -s V -l version -d 'Print version'
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List saved results, oldest first'
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Remove saved results: by key (or a unique prefix of one), or every one of a DAG or a task'
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Remove saved results older than a given age'
complete -c dag -n "__fish_dag_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "run" -d 'Run a DAG file'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "validate" -d 'Check DAG files and report every problem'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "status" -d 'Show the state of a run (the latest one by default)'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "runs" -d 'List past runs, newest first, each run of a sub-DAG under its parent'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "logs" -d 'Print the logs of a run\'s tasks'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "report" -d 'Write a run\'s report: counts, failed tasks with their log tails, the graph coloured by state, the task table'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "retry" -d 'Run again what did not succeed in a run, under the same run id'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "worker" -d 'Run tasks of distributed runs, taken from NATS JetStream'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "workers" -d 'List the workers and the depth of each queue'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "queues" -d 'Per queue: tasks waiting, running, the live workers serving it, and the tasks waiting where none does (what an autoscaler watches)'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "scheduler" -d 'Drive distributed runs that no process drives: runs submitted with `dag run --detach`, and runs whose driver died (taken over once its lease lapses). Any number of schedulers may share a deployment'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "wait" -d 'Wait for a run to end, showing its tasks as they change, and exit with the run\'s code (0 success, 1 failed, 130 cancelled)'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "cancel" -d 'Stop a run: its `dag run` process and its tasks on every worker'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "graph" -d 'Show a DAG file\'s graph, or a run\'s with each task\'s state, as text, Graphviz DOT or Mermaid'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "ui" -d 'Serve a web view of the runs in the state store: runs, each run\'s graph, timeline, tasks and logs (live), each DAG\'s history, the workers, and retry/cancel buttons'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "init" -d 'Write a commented starter DAG file, dag.yaml, in the current directory'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "completions" -d 'Print a shell completion script'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "man" -d 'Write man pages for dag and each command'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "schema" -d 'Print the JSON Schema of the DAG file format, for editors'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "pools" -d 'List the pools of the runs going on, with their sizes, the tasks holding their slots and the tasks waiting for them (this machine\'s runs, or with `--state nats` the deployment\'s)'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "cache" -d 'List and remove the saved results of tasks with `cache:`: this machine\'s (beside the file store), or with `--state nats` the workers\' (the NATS object store `dag_cache`)'
complete -c dag -n "__fish_dag_using_subcommand help; and not __fish_seen_subcommand_from run validate status runs logs report retry worker workers queues scheduler wait cancel graph ui init completions man schema pools cache help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dag -n "__fish_dag_using_subcommand help; and __fish_seen_subcommand_from runs" -f -a "prune" -d 'Delete runs that ended longer ago than a given age'
complete -c dag -n "__fish_dag_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "ls" -d 'List saved results, oldest first'
complete -c dag -n "__fish_dag_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "rm" -d 'Remove saved results: by key (or a unique prefix of one), or every one of a DAG or a task'
complete -c dag -n "__fish_dag_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "prune" -d 'Remove saved results older than a given age'
