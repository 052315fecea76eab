//! The conformance guest of the Rust SDK. It runs the command protocol of
//! README.md on its main channel; tests drive it to check the SDK's codec and
//! channel calls against a real agent.

#[path = "../../guest/rust/wasmnet.rs"]
mod wasmnet;

use std::time::Duration;
use wasmnet::{Channel, Error, Value};

fn die(main: Channel, what: &str, e: Error) -> ! {
    let msg = format!("conform: {}: {}", what, e);
    eprintln!("{}", msg);
    let _ = main.close_with_error(&msg);
    std::process::exit(1);
}

fn send(main: Channel, ch: Channel, v: &Value) {
    if let Err(e) = ch.send(v) {
        die(main, "send", e);
    }
}

fn main() {
    let main = Channel::main();
    loop {
        let cmd = match main.receive() {
            Err(Error::Closed) => return,
            Err(e) => die(main, "receive", e),
            Ok(v) => v,
        };
        let args: Vec<Value> = match cmd {
            Value::Array(a) if !a.is_empty() => a,
            _ => die(main, "command", Error::BadValue),
        };
        let op = args[0].as_str().unwrap_or("").to_string();
        match (op.as_str(), args.len()) {
            ("echo", 2) => send(main, main, &args[1]),
            ("timeout", 2) => {
                let ms = args[1].as_u64().unwrap_or(0);
                match main.receive_timeout(Duration::from_millis(ms)) {
                    Err(Error::Timeout) => send(main, main, &Value::from("timeout")),
                    Ok(v) => send(main, main, &v),
                    Err(e) => die(main, "receive with timeout", e),
                }
            }
            ("bigrecv", _) => match main.receive() {
                Ok(v) => send(main, main, &Value::from(v.to_msgpack().len())),
                Err(e) => die(main, "bigrecv", e),
            },
            ("newchan", _) => {
                let c = Channel::new().unwrap_or_else(|e| die(main, "channel_new", e));
                send(main, main, &Value::from(c));
                loop {
                    match c.receive() {
                        Ok(v) => send(main, c, &v),
                        Err(Error::Closed) => break,
                        Err(e) => die(main, "echo on the new channel", e),
                    }
                }
            }
            ("usechan", 2) => {
                let c = match args[1].as_channel() {
                    Some(c) => c,
                    None => die(main, "usechan argument", Error::BadValue),
                };
                send(main, c, &Value::from("hi"));
                if let Err(e) = c.close() {
                    die(main, "close", e);
                }
            }
            ("closeerr", 2) => {
                let msg = args[1].as_str().unwrap_or("");
                if let Err(e) = main.close_with_error(msg) {
                    die(main, "close_error", e);
                }
                return;
            }
            ("many", 2) => {
                let n = args[1].as_u64().unwrap_or(0);
                let cs: Vec<Channel> = (0..n)
                    .map(|_| Channel::new().unwrap_or_else(|e| die(main, "channel_new", e)))
                    .collect();
                send(main, main, &Value::Array(cs.iter().map(|&c| Value::from(c)).collect()));
                for (i, c) in cs.iter().enumerate() {
                    send(main, *c, &Value::from(i));
                    if let Err(e) = c.close() {
                        die(main, "close", e);
                    }
                }
            }
            ("trap", _) => std::process::abort(),
            ("exit", _) => return,
            _ => {
                let _ = main.close_with_error(&format!("conform: unknown command {}/{}", op, args.len()));
                return;
            }
        }
    }
}
