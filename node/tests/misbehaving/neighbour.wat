;; Counts to a million and exits 0: a neighbour that must not be starved.
(module
  (func (export "_start") (local $i i32)
    (loop $count
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $count (i32.lt_u (local.get $i) (i32.const 1000000))))))
