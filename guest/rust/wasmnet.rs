//! wasmnet guest SDK for Rust (ABI v1, see abi/README.md). One source file, no crates.
//!
//! Use it as a module from a guest's source:
//!
//! ```ignore
//! #[path = "../../guest/rust/wasmnet.rs"]
//! mod wasmnet;
//! use wasmnet::{Channel, Value};
//!
//! fn main() {
//!     let ch = Channel::main();
//!     while let Ok(v) = ch.receive() {
//!         ch.send(&v).unwrap();
//!     }
//! }
//! ```
//!
//! and build with Debian's rustc (1.63 or newer):
//! `/usr/bin/rustc --edition 2021 --target wasm32-wasi -C opt-level=3 guest.rs -o guest.wasm`
//! (cargo build --release builds at opt-level 3 too).
//!
//! The msgpack codec ([`Value`], [`Value::encode`], [`Value::decode`]) is plain
//! Rust and compiles on any target; the host imports exist only on wasm32.
//! Natively every channel call fails with [`Error::Unavailable`], so the codec
//! can be tested with the host's rustc.
#![allow(dead_code)]

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::time::Duration;

// ---- values ---------------------------------------------------------------

/// One msgpack value.
///
/// Integers: decoding gives `Int` for a value that fits `i64` and `UInt` only
/// for values above `i64::MAX`, whatever form they were encoded in; both
/// encode in the smallest form, so `Int(5)` and `UInt(5)` give the same bytes.
/// Floats keep their width: a float32 decodes to `F32` and encodes back as
/// float32; `Float` is float64. A channel is msgpack ext 1 (fixext 4) holding
/// the handle; any other ext type is kept as `Ext`. A str whose bytes are not
/// valid UTF-8 (msgpack allows it; Go strings carry any bytes) decodes to
/// `RawStr` and encodes back as the same str.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    F32(f32),
    Str(String),
    RawStr(Vec<u8>),
    Bin(Vec<u8>),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Channel(u32),
    Ext(i8, Vec<u8>),
}

/// The ext type of an integer beyond 64 bits (Python's and Starlark's
/// `2**80`): a sign byte (0 positive, 1 negative), then the magnitude
/// big-endian, no leading zero, at most [`MAX_BIGINT_BYTES`] (abi/README.md).
/// It decodes as `Value::Ext(BIGINT_EXT, payload)` and encodes back unchanged;
/// a map keyed by a tuple is a `Value::Map` whose key is a `Value::Array`.
pub const BIGINT_EXT: i8 = 2;

/// The largest magnitude, in bytes, of a big integer on the wire.
pub const MAX_BIGINT_BYTES: usize = 1024;

/// The nesting limit of the decoder.
pub const MAX_DEPTH: usize = 512;

/// The initial size of the receive buffer; it grows as the host asks.
pub const INITIAL_BUFFER: usize = 64 * 1024;

impl Value {
    /// Appends the canonical msgpack encoding of the value to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Nil => out.push(0xc0),
            Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
            Value::Int(i) => write_int(out, *i),
            Value::UInt(u) => write_uint(out, *u),
            Value::Float(f) => {
                out.push(0xcb);
                out.extend_from_slice(&f.to_bits().to_be_bytes());
            }
            Value::F32(f) => {
                out.push(0xca);
                out.extend_from_slice(&f.to_bits().to_be_bytes());
            }
            Value::Str(s) => write_str(out, s.as_bytes()),
            Value::RawStr(s) => write_str(out, s),
            Value::Bin(b) => {
                write_len(out, b.len(), [0xc4, 0xc5, 0xc6]);
                out.extend_from_slice(b);
            }
            Value::Array(a) => {
                let n = a.len();
                if n <= 15 {
                    out.push(0x90 | n as u8);
                } else {
                    write_len16(out, n, [0xdc, 0xdd]);
                }
                for v in a {
                    v.encode(out);
                }
            }
            Value::Map(m) => {
                let n = m.len();
                if n <= 15 {
                    out.push(0x80 | n as u8);
                } else {
                    write_len16(out, n, [0xde, 0xdf]);
                }
                for (k, v) in m {
                    k.encode(out);
                    v.encode(out);
                }
            }
            Value::Channel(h) => {
                out.push(0xd6);
                out.push(0x01);
                out.extend_from_slice(&h.to_be_bytes());
            }
            Value::Ext(t, data) => {
                match data.len() {
                    1 => out.push(0xd4),
                    2 => out.push(0xd5),
                    4 => out.push(0xd6),
                    8 => out.push(0xd7),
                    16 => out.push(0xd8),
                    n => write_len(out, n, [0xc7, 0xc8, 0xc9]),
                }
                out.push(*t as u8);
                out.extend_from_slice(data);
            }
        }
    }

    /// The canonical msgpack encoding of the value.
    pub fn to_msgpack(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes exactly one value; trailing bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<Value, Error> {
        let (v, n) = Value::decode_prefix(bytes)?;
        if n != bytes.len() {
            return Err(Error::Decode(format!("{} bytes after the value", bytes.len() - n)));
        }
        Ok(v)
    }

    /// Decodes the value at the start of `bytes`; returns it with the number
    /// of bytes it took. Accepts every msgpack form.
    pub fn decode_prefix(bytes: &[u8]) -> Result<(Value, usize), Error> {
        let mut d = Decoder { b: bytes, pos: 0 };
        let v = d.value(0)?;
        Ok((v, d.pos))
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// Any integer that fits i64.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            Value::UInt(u) if u <= i64::MAX as u64 => Some(u as i64),
            _ => None,
        }
    }

    /// Any non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Int(i) if i >= 0 => Some(i as u64),
            Value::UInt(u) => Some(u),
            _ => None,
        }
    }

    /// A float of either width, or an integer.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(f) => Some(f),
            Value::F32(f) => Some(f as f64),
            Value::Int(i) => Some(i as f64),
            Value::UInt(u) => Some(u as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes of a str (valid UTF-8 or not) or a bin.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) => Some(s.as_bytes()),
            Value::RawStr(b) => Some(b),
            Value::Bin(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_channel(&self) -> Option<Channel> {
        match *self {
            Value::Channel(h) if h <= i32::MAX as u32 => Some(Channel { handle: h as i32 }),
            _ => None,
        }
    }
}

fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n <= 31 {
        out.push(0xa0 | n as u8);
    } else {
        write_len(out, n, [0xd9, 0xda, 0xdb]);
    }
    out.extend_from_slice(s);
}

fn write_uint(out: &mut Vec<u8>, u: u64) {
    if u <= 0x7f {
        out.push(u as u8);
    } else if u <= 0xff {
        out.push(0xcc);
        out.push(u as u8);
    } else if u <= 0xffff {
        out.push(0xcd);
        out.extend_from_slice(&(u as u16).to_be_bytes());
    } else if u <= 0xffff_ffff {
        out.push(0xce);
        out.extend_from_slice(&(u as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&u.to_be_bytes());
    }
}

fn write_int(out: &mut Vec<u8>, i: i64) {
    if i >= 0 {
        write_uint(out, i as u64);
    } else if i >= -32 {
        out.push(i as u8);
    } else if i >= i8::MIN as i64 {
        out.push(0xd0);
        out.push(i as u8);
    } else if i >= i16::MIN as i64 {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= i32::MIN as i64 {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

// write_len writes an 8-, 16- or 32-bit length with the given codes.
// Lengths over u32::MAX cannot be encoded in msgpack; they are truncated
// (a Vec that large cannot be sent anyway: the ABI takes an i32 length).
fn write_len(out: &mut Vec<u8>, n: usize, codes: [u8; 3]) {
    if n <= 0xff {
        out.push(codes[0]);
        out.push(n as u8);
    } else {
        write_len16(out, n, [codes[1], codes[2]]);
    }
}

fn write_len16(out: &mut Vec<u8>, n: usize, codes: [u8; 2]) {
    if n <= 0xffff {
        out.push(codes[0]);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(codes[1]);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

struct Decoder<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.b.len() - self.pos {
            return Err(Error::Decode("truncated msgpack".to_string()));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, Error> {
        let mut v = 0u64;
        for &b in self.take(n)? {
            v = v << 8 | b as u64;
        }
        Ok(v)
    }

    fn int(v: i64) -> Value {
        Value::Int(v)
    }

    fn uint(v: u64) -> Value {
        if v <= i64::MAX as u64 {
            Value::Int(v as i64)
        } else {
            Value::UInt(v)
        }
    }

    fn str(&mut self, n: usize) -> Result<Value, Error> {
        let b = self.take(n)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(Value::Str(s.to_string())),
            Err(_) => Ok(Value::RawStr(b.to_vec())),
        }
    }

    fn array(&mut self, n: usize, depth: usize) -> Result<Value, Error> {
        if n > self.b.len() - self.pos {
            return Err(Error::Decode("truncated msgpack".to_string()));
        }
        let mut a = Vec::with_capacity(n);
        for _ in 0..n {
            a.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(a))
    }

    fn map(&mut self, n: usize, depth: usize) -> Result<Value, Error> {
        if n > (self.b.len() - self.pos) / 2 {
            return Err(Error::Decode("truncated msgpack".to_string()));
        }
        let mut m = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.value(depth + 1)?;
            let v = self.value(depth + 1)?;
            m.push((k, v));
        }
        Ok(Value::Map(m))
    }

    fn ext(&mut self, n: usize) -> Result<Value, Error> {
        let t = self.take(1)?[0] as i8;
        let data = self.take(n)?;
        if t == 1 {
            if n != 4 {
                return Err(Error::Decode("a channel value must have 4 bytes".to_string()));
            }
            return Ok(Value::Channel(u32::from_be_bytes([data[0], data[1], data[2], data[3]])));
        }
        Ok(Value::Ext(t, data.to_vec()))
    }

    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        if depth > MAX_DEPTH {
            return Err(Error::Decode("msgpack nested too deeply".to_string()));
        }
        let c = self.take(1)?[0];
        match c {
            0x00..=0x7f => Ok(Value::Int(c as i64)),
            0x80..=0x8f => self.map((c & 0x0f) as usize, depth),
            0x90..=0x9f => self.array((c & 0x0f) as usize, depth),
            0xa0..=0xbf => self.str((c & 0x1f) as usize),
            0xc0 => Ok(Value::Nil),
            0xc2 => Ok(Value::Bool(false)),
            0xc3 => Ok(Value::Bool(true)),
            0xc4 => {
                let n = self.be(1)? as usize;
                Ok(Value::Bin(self.take(n)?.to_vec()))
            }
            0xc5 => {
                let n = self.be(2)? as usize;
                Ok(Value::Bin(self.take(n)?.to_vec()))
            }
            0xc6 => {
                let n = self.be(4)? as usize;
                Ok(Value::Bin(self.take(n)?.to_vec()))
            }
            0xc7 => {
                let n = self.be(1)? as usize;
                self.ext(n)
            }
            0xc8 => {
                let n = self.be(2)? as usize;
                self.ext(n)
            }
            0xc9 => {
                let n = self.be(4)? as usize;
                self.ext(n)
            }
            0xca => Ok(Value::F32(f32::from_bits(self.be(4)? as u32))),
            0xcb => Ok(Value::Float(f64::from_bits(self.be(8)?))),
            0xcc => Ok(Decoder::uint(self.be(1)?)),
            0xcd => Ok(Decoder::uint(self.be(2)?)),
            0xce => Ok(Decoder::uint(self.be(4)?)),
            0xcf => Ok(Decoder::uint(self.be(8)?)),
            0xd0 => Ok(Decoder::int(self.be(1)? as u8 as i8 as i64)),
            0xd1 => Ok(Decoder::int(self.be(2)? as u16 as i16 as i64)),
            0xd2 => Ok(Decoder::int(self.be(4)? as u32 as i32 as i64)),
            0xd3 => Ok(Decoder::int(self.be(8)? as i64)),
            0xd4 => self.ext(1),
            0xd5 => self.ext(2),
            0xd6 => self.ext(4),
            0xd7 => self.ext(8),
            0xd8 => self.ext(16),
            0xd9 => {
                let n = self.be(1)? as usize;
                self.str(n)
            }
            0xda => {
                let n = self.be(2)? as usize;
                self.str(n)
            }
            0xdb => {
                let n = self.be(4)? as usize;
                self.str(n)
            }
            0xdc => {
                let n = self.be(2)? as usize;
                self.array(n, depth)
            }
            0xdd => {
                let n = self.be(4)? as usize;
                self.array(n, depth)
            }
            0xde => {
                let n = self.be(2)? as usize;
                self.map(n, depth)
            }
            0xdf => {
                let n = self.be(4)? as usize;
                self.map(n, depth)
            }
            0xe0..=0xff => Ok(Value::Int(c as i8 as i64)),
            _ => Err(Error::Decode(format!("invalid msgpack byte {:#04x}", c))),
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Value {
        Value::Int(v as i64)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Decoder::uint(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(v as i64)
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Decoder::uint(v as u64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Value {
        Value::F32(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bin(v)
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::Array(v)
    }
}
impl From<Channel> for Value {
    fn from(c: Channel) -> Value {
        Value::Channel(c.handle as u32)
    }
}

// ---- errors ---------------------------------------------------------------

/// An error of a channel call or of the codec. The first variants are the
/// ABI's result codes (abi/README.md); `Decode` comes from the codec.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// -1: the channel is closed (end of stream, or closed by this guest).
    Closed,
    /// -2: receive's timeout passed with no message.
    Timeout,
    /// -3: the message exceeds the agent's maximum message size.
    TooLarge,
    /// -4: the handle names no channel this guest holds.
    UnknownChannel,
    /// -5: the peer closed the channel with this error text.
    Remote(String),
    /// -6: the bytes sent are not one msgpack value or name a foreign channel.
    BadValue,
    /// -7: a pointer range falls outside the guest's memory.
    Memory,
    /// -8: the agent is shutting down or cannot open more channels; also
    /// every channel call when not running on wasm32.
    Unavailable,
    /// A malformed or truncated msgpack value was received or decoded.
    Decode(String),
    /// A result code this SDK does not know.
    Code(i32),
}

impl Error {
    fn from_code(rc: i32) -> Error {
        match rc {
            -1 => Error::Closed,
            -2 => Error::Timeout,
            -3 => Error::TooLarge,
            -4 => Error::UnknownChannel,
            -5 => Error::Remote(String::new()),
            -6 => Error::BadValue,
            -7 => Error::Memory,
            -8 => Error::Unavailable,
            _ => Error::Code(rc),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed => write!(f, "wasmnet: channel closed"),
            Error::Timeout => write!(f, "wasmnet: timeout"),
            Error::TooLarge => write!(f, "wasmnet: message too large"),
            Error::UnknownChannel => write!(f, "wasmnet: unknown channel"),
            Error::Remote(s) => write!(f, "wasmnet: remote error: {}", s),
            Error::BadValue => write!(f, "wasmnet: bad value"),
            Error::Memory => write!(f, "wasmnet: memory out of range"),
            Error::Unavailable => write!(f, "wasmnet: unavailable"),
            Error::Decode(s) => write!(f, "wasmnet: decode: {}", s),
            Error::Code(c) => write!(f, "wasmnet: result code {}", c),
        }
    }
}

impl std::error::Error for Error {}

// ---- host imports -----------------------------------------------------------

#[cfg(target_arch = "wasm32")]
mod sys {
    // The Rust names differ from the import names so that they cannot clash
    // with libc's send/close symbols at link time.
    #[link(wasm_import_module = "wasmnet")]
    extern "C" {
        #[link_name = "abi_version"]
        pub fn wasmnet_abi_version() -> i32;
        #[link_name = "abi_v1"]
        pub fn wasmnet_abi_v1() -> i32;
        #[link_name = "channel_main"]
        pub fn wasmnet_channel_main() -> i32;
        #[link_name = "channel_new"]
        pub fn wasmnet_channel_new() -> i32;
        #[link_name = "send"]
        pub fn wasmnet_send(h: i32, ptr: *const u8, len: i32) -> i32;
        #[link_name = "receive"]
        pub fn wasmnet_receive(h: i32, buf: *mut u8, cap: i32, timeout_ns: i64, len_out: *mut i32) -> i32;
        #[link_name = "close"]
        pub fn wasmnet_close(h: i32) -> i32;
        #[link_name = "close_error"]
        pub fn wasmnet_close_error(h: i32, ptr: *const u8, len: i32) -> i32;
        #[link_name = "close_send"]
        pub fn wasmnet_close_send(h: i32) -> i32;
    }
}

#[cfg(not(target_arch = "wasm32"))]
#[allow(unused_variables)]
mod sys {
    // Natively there is no agent: every call reports "unavailable" (-8).
    pub unsafe fn wasmnet_abi_version() -> i32 {
        -8
    }
    pub unsafe fn wasmnet_abi_v1() -> i32 {
        -8
    }
    pub unsafe fn wasmnet_channel_main() -> i32 {
        -8
    }
    pub unsafe fn wasmnet_channel_new() -> i32 {
        -8
    }
    pub unsafe fn wasmnet_send(h: i32, ptr: *const u8, len: i32) -> i32 {
        -8
    }
    pub unsafe fn wasmnet_receive(h: i32, buf: *mut u8, cap: i32, timeout_ns: i64, len_out: *mut i32) -> i32 {
        -8
    }
    pub unsafe fn wasmnet_close(h: i32) -> i32 {
        -8
    }
    pub unsafe fn wasmnet_close_error(h: i32, ptr: *const u8, len: i32) -> i32 {
        -8
    }
    pub unsafe fn wasmnet_close_send(h: i32) -> i32 {
        -8
    }
}

fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| unsafe {
        sys::wasmnet_abi_v1();
    });
}

/// The agent's ABI version.
pub fn abi_version() -> i32 {
    init();
    unsafe { sys::wasmnet_abi_version() }
}

thread_local! {
    // The receive buffer, shared by every channel (a guest runs one thread).
    static BUF: RefCell<Vec<u8>> = RefCell::new(Vec::new());
}

// ---- channels ---------------------------------------------------------------

/// A channel handle. Copying it copies the handle, not the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Channel {
    handle: i32,
}

impl Channel {
    /// The channel the execution was started with.
    pub fn main() -> Channel {
        init();
        Channel { handle: unsafe { sys::wasmnet_channel_main() } }
    }

    /// Opens a new channel (send it to the peer as a value to use it).
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> Result<Channel, Error> {
        init();
        let h = unsafe { sys::wasmnet_channel_new() };
        if h < 0 {
            return Err(Error::from_code(h));
        }
        Ok(Channel { handle: h })
    }

    /// A channel from a raw handle (e.g. one received inside a value).
    pub fn from_handle(handle: i32) -> Channel {
        Channel { handle }
    }

    pub fn handle(&self) -> i32 {
        self.handle
    }

    /// Sends one value.
    pub fn send(&self, v: &Value) -> Result<(), Error> {
        self.send_raw(&v.to_msgpack())
    }

    /// Sends bytes that are exactly one msgpack value.
    pub fn send_raw(&self, msg: &[u8]) -> Result<(), Error> {
        if msg.len() > i32::MAX as usize {
            return Err(Error::TooLarge);
        }
        init();
        let rc = unsafe { sys::wasmnet_send(self.handle, msg.as_ptr(), msg.len() as i32) };
        if rc < 0 {
            return Err(Error::from_code(rc));
        }
        Ok(())
    }

    /// Receives the next value, waiting without limit. `Err(Error::Closed)`
    /// is the end of the stream.
    pub fn receive(&self) -> Result<Value, Error> {
        self.receive_with(-1, |b| Value::decode(b))
    }

    /// Receives the next value, waiting at most `d` (`Err(Error::Timeout)`
    /// when it passes; a zero duration polls).
    pub fn receive_timeout(&self, d: Duration) -> Result<Value, Error> {
        let ns = if d.as_nanos() > i64::MAX as u128 { -1 } else { d.as_nanos() as i64 };
        self.receive_with(ns, |b| Value::decode(b))
    }

    /// Receives the next message's bytes without decoding them.
    pub fn receive_raw(&self, timeout: Option<Duration>) -> Result<Vec<u8>, Error> {
        let ns = match timeout {
            None => -1,
            Some(d) if d.as_nanos() > i64::MAX as u128 => -1,
            Some(d) => d.as_nanos() as i64,
        };
        self.receive_with(ns, |b| Ok(b.to_vec()))
    }

    /// Receives the next message and gives its bytes to `f` (no copy).
    pub fn receive_with<T, F>(&self, timeout_ns: i64, f: F) -> Result<T, Error>
    where
        F: FnOnce(&[u8]) -> Result<T, Error>,
    {
        init();
        BUF.with(|cell| {
            let mut buf = cell.borrow_mut();
            if buf.len() < INITIAL_BUFFER {
                buf.resize(INITIAL_BUFFER, 0);
            }
            loop {
                let mut n: i32 = 0;
                let cap = buf.len().min(i32::MAX as usize) as i32;
                let rc = unsafe { sys::wasmnet_receive(self.handle, buf.as_mut_ptr(), cap, timeout_ns, &mut n) };
                match rc {
                    0 if n >= 0 && n <= cap => return f(&buf[..n as usize]),
                    -3 if n > cap => buf.resize(n as usize, 0),
                    -5 => {
                        let n = if n >= 0 && n <= cap { n as usize } else { 0 };
                        return Err(Error::Remote(String::from_utf8_lossy(&buf[..n]).into_owned()));
                    }
                    0 | -3 => return Err(Error::Code(rc)), // the host broke the ABI
                    _ => return Err(Error::from_code(rc)),
                }
            }
        })
    }

    /// Closes the channel (closing twice is not an error).
    pub fn close(&self) -> Result<(), Error> {
        let rc = unsafe { sys::wasmnet_close(self.handle) };
        if rc < 0 {
            return Err(Error::from_code(rc));
        }
        Ok(())
    }

    /// Closes only the sending side (half-close): the peer receives what was
    /// sent, then end of stream, and may still send; receive goes on here.
    pub fn close_send(&self) -> Result<(), Error> {
        let rc = unsafe { sys::wasmnet_close_send(self.handle) };
        if rc < 0 {
            return Err(Error::from_code(rc));
        }
        Ok(())
    }

    /// Closes the channel; the peer's receive reports `msg` as an error.
    pub fn close_with_error(&self, msg: &str) -> Result<(), Error> {
        let n = msg.len().min(i32::MAX as usize) as i32;
        let rc = unsafe { sys::wasmnet_close_error(self.handle, msg.as_ptr(), n) };
        if rc < 0 {
            return Err(Error::from_code(rc));
        }
        Ok(())
    }
}

// ---- channels as byte streams ------------------------------------------------

impl Channel {
    /// A reader of the channel's items concatenated, as the Go SDK's
    /// `Chan.Reader` and execnet's `channel.makefile("r")`: each item must be
    /// a str or a bin. It keeps the unread rest of one item: use one per
    /// channel, and do not mix it with `receive`.
    pub fn reader(&self) -> ChannelReader {
        ChannelReader { ch: *self, rest: Vec::new(), off: 0 }
    }

    /// A writer that sends each `write` as one bin item, as the Go SDK's
    /// `Chan.Writer` and execnet's `channel.makefile("w")`. `flush` does
    /// nothing: every write is sent at once.
    pub fn writer(&self) -> ChannelWriter {
        ChannelWriter { ch: *self }
    }
}

/// `std::io::Read` over a channel ([`Channel::reader`]). `read` returns
/// `Ok(0)` at the end of the stream (the peer closed the channel or its
/// sending side); a close with an error is an `io::Error` wrapping
/// [`Error::Remote`]; an item that is not a str or bin is an error of kind
/// `InvalidData`, and the item is dropped.
pub struct ChannelReader {
    ch: Channel,
    rest: Vec<u8>,
    off: usize,
}

impl io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.off >= self.rest.len() {
            self.off = 0;
            self.rest = match self.ch.receive() {
                Err(Error::Closed) => return Ok(0),
                Err(e) => return Err(io::Error::new(io::ErrorKind::Other, e)),
                Ok(Value::Bin(b)) | Ok(Value::RawStr(b)) => b,
                Ok(Value::Str(s)) => s.into_bytes(),
                Ok(v) => {
                    let msg = format!("wasmnet: reader got {:?}, want bytes or a string", v);
                    return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
                }
            };
        }
        let n = buf.len().min(self.rest.len() - self.off);
        buf[..n].copy_from_slice(&self.rest[self.off..self.off + n]);
        self.off += n;
        Ok(n)
    }
}

/// `std::io::Write` over a channel ([`Channel::writer`]).
pub struct ChannelWriter {
    ch: Channel,
}

impl io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut msg = Vec::with_capacity(buf.len() + 5);
        Value::Bin(buf.to_vec()).encode(&mut msg);
        match self.ch.send_raw(&msg) {
            Ok(()) => Ok(buf.len()),
            Err(e) => Err(io::Error::new(io::ErrorKind::Other, e)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
