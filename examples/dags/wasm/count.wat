;; Counts the lines of its standard input: prints `lines=N` and publishes it
;; as the output `lines` (WASI preview 1; descriptor 3 is the directory that
;; holds $DAG_OUTPUT, /.dag/output).
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; 0: an iovec; 8: bytes read or written; 16: the opened file's descriptor;
  ;; 100: the output file's name; 200: the line to write; 1024: the read buffer.
  (data (i32.const 100) "output")
  (data (i32.const 200) "lines=")
  ;; Writes `n` in decimal at `at`; returns how many digits.
  (func $digits (param $n i32) (param $at i32) (result i32)
    (local $len i32) (local $i i32) (local $rest i32)
    (local.set $rest (local.get $n))
    (loop $count
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (local.set $rest (i32.div_u (local.get $rest) (i32.const 10)))
      (br_if $count (i32.ne (local.get $rest) (i32.const 0))))
    (local.set $i (local.get $len))
    (local.set $rest (local.get $n))
    (loop $write
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $at) (local.get $i))
        (i32.add (i32.const 48) (i32.rem_u (local.get $rest) (i32.const 10))))
      (local.set $rest (i32.div_u (local.get $rest) (i32.const 10)))
      (br_if $write (i32.ne (local.get $i) (i32.const 0))))
    (local.get $len))
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (local $n i32) (local $i i32) (local $lines i32) (local $len i32) (local $err i32)
    (block $eof (loop $read
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 4096))
      (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $n (i32.load (i32.const 8)))
      (br_if $eof (i32.eqz (local.get $n)))
      (local.set $i (i32.const 0))
      (block $done (loop $scan
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.eq (i32.load8_u (i32.add (i32.const 1024) (local.get $i))) (i32.const 10))
          (then (local.set $lines (i32.add (local.get $lines) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
      (br $read)))
    (local.set $len (call $digits (local.get $lines) (i32.const 206)))
    (i32.store8 (i32.add (i32.const 206) (local.get $len)) (i32.const 10))
    (local.set $len (i32.add (local.get $len) (i32.const 7)))
    (call $write (i32.const 1) (i32.const 200) (local.get $len))
    (local.set $err (call $path_open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 6)
      (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16)))
    (if (local.get $err) (then (call $proc_exit (local.get $err))))
    (call $write (i32.load (i32.const 16)) (i32.const 200) (local.get $len))))
