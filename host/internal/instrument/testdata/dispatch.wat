;; Functions shaped as Go's WebAssembly backend shapes every function: one
;; loop that dispatches on a local through a br_table, and jumps that set
;; the local and branch back to the loop. The instrument tests run them
;; before and after the rewrite, which threads the forward jumps.
;; Build: wat2wasm --debug-names dispatch.wat -o dispatch.wasm
(module
  ;; Per round: three forward jumps (0 -> 1 -> 2 -> 3 or back to 0), one
  ;; backward jump while $n lasts. Returns ((acc+1)*3 ...) mod 2^32.
  (func $machine (export "machine") (param $n i32) (result i32)
    (local $pc i32) (local $acc i32)
    (loop $top
      (block $b3
        (block $b2
          (block $b1
            (block $b0
              (br_table $b0 $b1 $b2 $b3 (local.get $pc)))
            ;; state 0
            (local.set $acc (i32.add (local.get $acc) (i32.const 1)))
            (local.set $pc (i32.const 1))
            (br $top))
          ;; state 1
          (local.set $acc (i32.mul (local.get $acc) (i32.const 3)))
          (local.set $pc (i32.const 2))
          (br $top))
        ;; state 2: back to state 0 while $n lasts, else on to state 3
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (if (local.get $n)
          (then
            (local.set $pc (i32.const 0))
            (br $top)))
        (local.set $pc (i32.const 3))
        (br $top))
      ;; state 3, with a decoy block at the stack depth $b3 had: an even
      ;; $acc is made odd and goes round through the loop (the jump must
      ;; not be taken as one to $b3), an odd one gains 1000 and leaves
      (block $decoy
        (if (i32.and (local.get $acc) (i32.const 1))
          (then
            (local.set $acc (i32.add (local.get $acc) (i32.const 1000)))
            (br $decoy)))
        (local.set $acc (i32.add (local.get $acc) (i32.const 1)))
        (local.set $pc (i32.const 3))
        (br $top)))
    (local.get $acc))

  ;; The same dispatch, where every jump is forward but state 2 always
  ;; jumps back: it never ends, and the rewrite must keep it stoppable.
  (func $forever (export "forever") (result i32)
    (local $pc i32)
    (loop $top
      (block $b2
        (block $b1
          (block $b0
            (br_table $b0 $b1 $b2 (local.get $pc)))
          (local.set $pc (i32.const 1))
          (br $top))
        (local.set $pc (i32.const 2))
        (br $top))
      (local.set $pc (i32.const 0))
      (br $top))
    (i32.const 0))

  ;; A br_table whose entries do not follow the blocks' order, and a value
  ;; beyond the table that takes the default: every jump lands where the
  ;; br_table sends it.
  (func $shuffled (export "shuffled") (param $n i32) (result i32)
    (local $pc i32) (local $acc i32)
    (local.set $pc (i32.const 7))
    (loop $top
      (block $b2
        (block $b1
          (block $b0
            (br_table $b2 $b0 $b1 $b0 (local.get $pc)))
          ;; reached with $pc 1, 3 or beyond: add 5, go to "0" (= $b2)
          (local.set $acc (i32.add (local.get $acc) (i32.const 5)))
          (local.set $pc (i32.const 0))
          (br $top))
        ;; reached with $pc 2
        (local.set $acc (i32.mul (local.get $acc) (i32.const 7)))
        (local.set $pc (i32.const 1))
        (br $top))
      ;; reached with $pc 0: count down, then to "2" (= $b1, backward)
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (if (local.get $n)
        (then
          (local.set $pc (i32.const 2))
          (br $top))))
    (local.get $acc)))
