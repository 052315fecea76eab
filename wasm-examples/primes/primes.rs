//! The primes example guest in Rust (see main.go for the Go one). For every
//! item [a, b] (two integers) it receives, it sends the number of primes p
//! with a <= p < b, until the channel closes. Same algorithm as
//! internal/primes: trial division by 2, then by odd numbers up to the root.

#[path = "../../guest/rust/wasmnet.rs"]
mod wasmnet;

use wasmnet::{Channel, Error, Value};

fn is_prime(x: i64) -> bool {
    if x < 2 {
        return false;
    }
    if x % 2 == 0 {
        return x == 2;
    }
    let mut d = 3;
    while d <= x / d {
        if x % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

fn count(a: i64, b: i64) -> i64 {
    (a.max(2)..b.max(2)).filter(|&x| is_prime(x)).count() as i64
}

fn ints(v: &Value) -> Result<Vec<i64>, String> {
    let bad = || "primes: want an array [a, b] of integers".to_string();
    match v {
        Value::Nil => Ok(Vec::new()), // nil decodes as an empty list, as in Go
        Value::Array(a) => a.iter().map(|x| x.as_i64().ok_or_else(bad)).collect(),
        _ => Err(bad()),
    }
}

fn main() {
    let ch = Channel::main();
    loop {
        let v = match ch.receive() {
            Err(Error::Closed) => return,
            Err(Error::Remote(msg)) => {
                let _ = ch.close_with_error(&msg);
                return;
            }
            Err(e) => {
                let _ = ch.close_with_error(&format!("primes: receive: {}", e));
                return;
            }
            Ok(v) => v,
        };
        let ab = match ints(&v) {
            Ok(ab) if ab.len() == 2 => ab,
            Ok(ab) => {
                let _ = ch.close_with_error(&format!("primes: got {} integers, want [a, b]", ab.len()));
                return;
            }
            Err(msg) => {
                let _ = ch.close_with_error(&msg);
                return;
            }
        };
        if let Err(e) = ch.send(&Value::Int(count(ab[0], ab[1]))) {
            let msg = format!("primes: send: {}", e);
            eprintln!("{}", msg);
            let _ = ch.close_with_error(&msg);
            std::process::exit(1);
        }
    }
}
