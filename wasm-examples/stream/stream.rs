//! The stream example guest in Rust (see main.go for the Go one): reads the
//! main channel as a byte stream (`std::io::Read`) in reads of at most 5
//! bytes and writes each read back uppercased (`std::io::Write`); at the end
//! of its input sends the byte count.

#[path = "../../guest/rust/wasmnet.rs"]
mod wasmnet;

use std::io::{Read, Write};
use wasmnet::{Channel, Value};

fn main() {
    let ch = Channel::main();
    let (mut r, mut w) = (ch.reader(), ch.writer());
    let mut buf = [0u8; 5];
    let mut total: u64 = 0;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                let _ = ch.close_with_error(&format!("stream: {}", e));
                std::process::exit(1);
            }
        };
        total += n as u64;
        buf[..n].make_ascii_uppercase();
        w.write_all(&buf[..n]).expect("stream: write");
    }
    ch.send(&Value::UInt(total)).expect("stream: send");
}
