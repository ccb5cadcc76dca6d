;; Spins for ever.
(module
  (func (export "_start") (loop $spin (br $spin))))
