;; The module the instrument tests run before and after the rewrite.
;; Build: wat2wasm --debug-names loops.wat -o loops.wasm
(module
  ;; An import before the one the rewrite adds, so that defined functions shift.
  (import "env" "note" (func $note (param i32)))
  (table 4 funcref)
  (global $ref (mut funcref) (ref.func $sum))
  (global $started (export "started") (mut i32) (i32.const 0))
  (elem (i32.const 0) $sum $fib)
  (elem (i32.const 2) funcref (ref.func $twice))
  (elem declare func $fib)
  (start $init)

  (func $init (global.set $started (i32.const 1)))

  (func $sum (export "sum") (param $n i32) (result i32) (local $acc i32)
    (block $out
      (loop $l
        (br_if $out (i32.eqz (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $acc))

  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))

  (func $twice (param $n i32) (result i32)
    (call $note (local.get $n))
    (i32.mul (local.get $n) (i32.const 2)))

  ;; indirect calls a table slot: 0 sum, 1 fib, 2 twice, 3 what viaref stored.
  (func (export "indirect") (param $slot i32) (param $n i32) (result i32)
    (call_indirect (param i32) (result i32) (local.get $n) (local.get $slot)))

  ;; viaref stores the function the global names in slot 3 and calls it.
  (func (export "viaref") (param $n i32) (result i32)
    (table.set 0 (i32.const 3) (global.get $ref))
    (call_indirect (param i32) (result i32) (local.get $n) (i32.const 3)))

  ;; nested loops with a value-typed block inside, to check loop headers of every kind.
  (func (export "nested") (param $n i32) (result i64) (local $i i32) (local $j i32) (local $acc i64)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner (result i32)
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $j))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $j) (local.get $n)))
        (local.get $j))
      (drop)
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $acc))

  (func $spin (export "spin") (loop $l (br $l)))
)
