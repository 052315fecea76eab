//! The flood benchmark guest in Rust (see main.go for the Go one, and for the
//! protocol). Small integers go out as their one-byte msgpack form; the sink
//! decodes each item to count it.

#[path = "../../guest/rust/wasmnet.rs"]
mod wasmnet;

use wasmnet::{Channel, Error, Value};

fn fail(ch: &Channel, msg: &str) -> ! {
    let _ = ch.close_with_error(msg);
    std::process::exit(1);
}

fn sink(ch: &Channel) -> (i64, i64) {
    let (mut items, mut bytes) = (0i64, 0i64);
    loop {
        match ch.receive() {
            Err(Error::Closed) | Ok(Value::Nil) => return (items, bytes),
            Err(e) => fail(ch, &format!("flood: receive: {}", e)),
            Ok(v) => {
                items += 1;
                match v {
                    Value::Str(s) => bytes += s.len() as i64,
                    Value::RawStr(b) | Value::Bin(b) => bytes += b.len() as i64,
                    _ => {}
                }
            }
        }
    }
}

fn main() {
    let ch = Channel::main();
    loop {
        let v = match ch.receive() {
            Err(Error::Closed) | Err(Error::Remote(_)) => return,
            Err(e) => fail(&ch, &format!("flood: receive: {}", e)),
            Ok(v) => v,
        };
        if let Some(n) = v.as_i64() {
            for i in 0..n {
                if let Err(e) = ch.send_raw(&[(i & 127) as u8]) {
                    fail(&ch, &format!("flood: send: {}", e));
                }
            }
        } else if v.as_str() == Some("sink") {
            let (items, bytes) = sink(&ch);
            if let Err(e) = ch.send(&Value::Array(vec![Value::Int(items), Value::Int(bytes)])) {
                fail(&ch, &format!("flood: send: {}", e));
            }
        } else {
            fail(&ch, "flood: want an integer or \"sink\"");
        }
    }
}
