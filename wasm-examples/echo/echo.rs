//! The echo example guest in Rust (see main.go for the Go one): sends back
//! every item it receives on its main channel until the channel closes, then
//! returns. Items are decoded and encoded again by the SDK's codec.

#[path = "../../guest/rust/wasmnet.rs"]
mod wasmnet;

use wasmnet::{Channel, Error};

fn main() {
    let ch = Channel::main();
    loop {
        let res = match ch.receive() {
            Err(Error::Closed) => return,
            Ok(v) => ch.send(&v),
            Err(e) => Err(e),
        };
        if let Err(e) = res {
            let msg = format!("echo: {}", e);
            eprintln!("{}", msg);
            let _ = ch.close_with_error(&msg);
            std::process::exit(1);
        }
    }
}
