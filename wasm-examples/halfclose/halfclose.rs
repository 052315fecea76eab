//! The halfclose example guest in Rust (see main.go for the protocol):
//! sends n items, closes its sending side with `close_send`, then forwards
//! what the client still sends to a channel it opened.

#[path = "../../guest/rust/wasmnet.rs"]
mod wasmnet;

use wasmnet::{Channel, Error, Value};

/// Ends the guest; the agent closes every channel with the exit status and
/// this text.
fn fail(msg: String) -> ! {
    eprintln!("halfclose: {}", msg);
    std::process::exit(1);
}

fn main() {
    let ch = Channel::main();
    let n = match ch.receive() {
        Ok(v) => v.as_i64().unwrap_or_else(|| fail(format!("want an integer n, got {:?}", v))),
        Err(e) => fail(format!("receive n: {}", e)),
    };
    let back = Channel::new().unwrap_or_else(|e| fail(format!("open a channel: {}", e)));
    ch.send(&Value::from(back)).unwrap_or_else(|e| fail(format!("send the channel: {}", e)));
    for i in 0..n {
        ch.send(&Value::from(i)).unwrap_or_else(|e| fail(format!("send: {}", e)));
    }
    ch.close_send().unwrap_or_else(|e| fail(format!("close_send: {}", e)));
    match ch.send(&Value::from("after close_send")) {
        Err(Error::Closed) => {}
        other => fail(format!("send after close_send: got {:?}, want Closed", other)),
    }
    loop {
        match ch.receive_raw(None) {
            Ok(msg) => back.send_raw(&msg).unwrap_or_else(|e| fail(format!("forward: {}", e))),
            Err(Error::Closed) => break,
            Err(e) => fail(format!("receive: {}", e)),
        }
    }
    let _ = back.close();
}
