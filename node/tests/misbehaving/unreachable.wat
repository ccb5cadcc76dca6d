;; Reaches `unreachable`.
(module
  (func $broken unreachable)
  (func (export "_start") (call $broken)))
