//! The wordcount example guest in Rust (see main.go for the Go one).
//!
//! Receives text chunks (str or bin) on the main channel until nil or the end
//! of the stream, then sends one map of word -> count and returns. Chunks are
//! concatenated: a word may span two chunks. The rule is internal/wordcount's,
//! rune for rune: split on Unicode white space (strings.Fields), trim leading
//! and trailing Unicode punctuation (unicode.IsPunct), lowercase
//! (strings.ToLower, which turns invalid UTF-8 bytes into U+FFFD), drop empty
//! words. The Unicode tables come from Go's unicode package (gentables.go):
//! Rust's own char::to_lowercase and is_ascii_punctuation differ from Go's.

#[path = "../../guest/rust/wasmnet.rs"]
mod wasmnet;

include!("wordcount_tables.rs");

use std::collections::HashMap;
use wasmnet::{Channel, Error, Value};

const RUNE_ERROR: u32 = 0xFFFD;

/// Go's utf8.DecodeRune: invalid input gives (RUNE_ERROR, 1).
fn decode_rune(p: &[u8]) -> (u32, usize) {
    if p.is_empty() {
        return (RUNE_ERROR, 1);
    }
    let b0 = p[0];
    if b0 < 0x80 {
        return (b0 as u32, 1);
    }
    let (need, mut r, lo, hi) = match b0 {
        0xC2..=0xDF => (2, (b0 & 0x1F) as u32, 0x80, 0xBF),
        0xE0 => (3, (b0 & 0x0F) as u32, 0xA0, 0xBF),
        0xED => (3, (b0 & 0x0F) as u32, 0x80, 0x9F),
        0xE1..=0xEF => (3, (b0 & 0x0F) as u32, 0x80, 0xBF),
        0xF0 => (4, (b0 & 0x07) as u32, 0x90, 0xBF),
        0xF4 => (4, (b0 & 0x07) as u32, 0x80, 0x8F),
        0xF1..=0xF3 => (4, (b0 & 0x07) as u32, 0x80, 0xBF),
        _ => return (RUNE_ERROR, 1),
    };
    if p.len() < need || p[1] < lo || p[1] > hi {
        return (RUNE_ERROR, 1);
    }
    r = r << 6 | (p[1] & 0x3F) as u32;
    for &b in &p[2..need] {
        if !(0x80..=0xBF).contains(&b) {
            return (RUNE_ERROR, 1);
        }
        r = r << 6 | (b & 0x3F) as u32;
    }
    (r, need)
}

/// Go's utf8.DecodeLastRune.
fn decode_last_rune(p: &[u8]) -> (u32, usize) {
    let end = p.len();
    if end == 0 {
        return (RUNE_ERROR, 1);
    }
    if p[end - 1] < 0x80 {
        return (p[end - 1] as u32, 1);
    }
    let lim = end.saturating_sub(4);
    let mut start = end - 1;
    while start > lim && p[start] & 0xC0 == 0x80 {
        start -= 1;
    }
    let (r, size) = decode_rune(&p[start..end]);
    if start + size != end {
        return (RUNE_ERROR, 1);
    }
    (r, size)
}

/// Go's unicode.IsSpace.
fn is_space(r: u32) -> bool {
    matches!(r, 0x09..=0x0D | 0x20 | 0x85 | 0xA0 | 0x1680 | 0x2000..=0x200A | 0x2028 | 0x2029 | 0x202F | 0x205F | 0x3000)
}

fn is_punct(r: u32) -> bool {
    for &(lo, hi) in PUNCT {
        if r < lo {
            return false;
        }
        if r <= hi {
            return true;
        }
    }
    false
}

fn to_lower(r: u32) -> u32 {
    if r < 0x80 {
        return if (b'A' as u32..=b'Z' as u32).contains(&r) { r + 32 } else { r };
    }
    let mut out = r;
    for &(lo, hi, stride, delta) in LOWER {
        if r >= lo && r <= hi && (r - lo) % stride == 0 {
            out = (r as i32 + delta) as u32;
        }
    }
    out
}

fn push_rune(out: &mut Vec<u8>, r: u32) {
    let c = char::from_u32(r).unwrap_or('\u{FFFD}');
    let mut b = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
}

/// Trims, lowercases and counts one white-space-separated field.
fn count_word(mut f: &[u8], counts: &mut HashMap<Vec<u8>, i64>) {
    loop {
        let (r, size) = decode_rune(f);
        if f.is_empty() || !is_punct(r) {
            break;
        }
        f = &f[size..];
    }
    loop {
        let (r, size) = decode_last_rune(f);
        if f.is_empty() || !is_punct(r) {
            break;
        }
        f = &f[..f.len() - size];
    }
    if f.is_empty() {
        return;
    }
    let mut w = Vec::with_capacity(f.len());
    let mut i = 0;
    while i < f.len() {
        let (r, size) = decode_rune(&f[i..]);
        push_rune(&mut w, to_lower(r));
        i += size;
    }
    *counts.entry(w).or_insert(0) += 1;
}

/// wordcount.Count.
fn count(text: &[u8], counts: &mut HashMap<Vec<u8>, i64>) {
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < text.len() {
        let (r, size) = decode_rune(&text[i..]);
        if is_space(r) {
            if let Some(s) = start.take() {
                count_word(&text[s..i], counts);
            }
        } else if start.is_none() {
            start = Some(i);
        }
        i += size;
    }
    if let Some(s) = start {
        count_word(&text[s..], counts);
    }
}

/// wordcount.Complete: the length of the prefix that ends with a white-space rune.
fn complete(text: &[u8]) -> usize {
    let mut end = text.len();
    while end > 0 {
        let (r, size) = decode_last_rune(&text[..end]);
        if is_space(r) {
            return end;
        }
        end -= size;
    }
    0
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::UInt(_) => "int",
        Value::Float(_) => "float64",
        Value::F32(_) => "float32",
        Value::Str(_) | Value::RawStr(_) => "str",
        Value::Bin(_) => "bin",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Channel(_) => "channel",
        Value::Ext(..) => "ext",
    }
}

fn fail(ch: Channel, e: Error) -> ! {
    let msg = format!("wordcount: {}", e);
    eprintln!("{}", msg);
    let _ = ch.close_with_error(&msg);
    std::process::exit(1);
}

fn main() {
    let ch = Channel::main();
    let mut counts: HashMap<Vec<u8>, i64> = HashMap::new();
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let v = match ch.receive() {
            Ok(Value::Nil) | Err(Error::Closed) => break,
            Ok(v) => v,
            Err(e) => fail(ch, e),
        };
        match v.as_bytes() {
            Some(b) => pending.extend_from_slice(b),
            None => {
                let _ = ch.close_with_error(&format!(
                    "wordcount: item of type {}, want a string or bytes",
                    type_name(&v)
                ));
                return;
            }
        }
        let n = complete(&pending);
        count(&pending[..n], &mut counts);
        pending.drain(..n);
    }
    count(&pending, &mut counts);
    let map = counts
        .into_iter()
        .map(|(w, n)| {
            let s = String::from_utf8(w).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            (Value::Str(s), Value::Int(n))
        })
        .collect();
    // After the client closed the channel the send fails with Closed: the
    // client asked for no answer.
    match ch.send(&Value::Map(map)) {
        Ok(()) | Err(Error::Closed) => {}
        Err(e) => fail(ch, e),
    }
}
