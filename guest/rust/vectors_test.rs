//! Native harness for the shared msgpack vectors (tests/testdata/vectors.json).
//! tests/vectors_test.go converts the vectors to a line format (described
//! there), builds this file with `/usr/bin/rustc --edition 2021 -O
//! guest/rust/vectors_test.rs`, runs it on that file and compares its output.
//! For every input line `name TAB hex TAB tokens` it prints
//! `name TAB hex(encode(decode(hex))) TAB hex(encode(tokens)) TAB tokens(decode(hex))`,
//! or `name TAB ERR TAB - TAB -` when the bytes are not exactly one value.

#[path = "wasmnet.rs"]
mod wasmnet;

use std::fmt::Write as _;
use wasmnet::Value;

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("bad hex"))
        .collect()
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 * b.len());
    for x in b {
        write!(s, "{:02x}", x).unwrap();
    }
    s
}

fn parse<'a, I: Iterator<Item = &'a str>>(toks: &mut I) -> Value {
    let t = toks.next().expect("missing token");
    let (k, rest) = match t.find(':') {
        Some(i) => (&t[..i], &t[i + 1..]),
        None => (t, ""),
    };
    match k {
        "n" => Value::Nil,
        "t" => Value::Bool(true),
        "f" => Value::Bool(false),
        "i" => Value::Int(rest.parse().unwrap()),
        "u" => Value::UInt(rest.parse().unwrap()),
        "f32" => Value::F32(f32::from_bits(u32::from_str_radix(rest, 16).unwrap())),
        "f64" => Value::Float(f64::from_bits(u64::from_str_radix(rest, 16).unwrap())),
        "s" => match String::from_utf8(unhex(rest)) {
            Ok(s) => Value::Str(s),
            Err(e) => Value::RawStr(e.into_bytes()),
        },
        "b" => Value::Bin(unhex(rest)),
        "c" => Value::Channel(rest.parse().unwrap()),
        "x" => {
            let i = rest.find(':').expect("bad ext token");
            Value::Ext(rest[..i].parse().unwrap(), unhex(&rest[i + 1..]))
        }
        "a" => {
            let n: usize = rest.parse().unwrap();
            Value::Array((0..n).map(|_| parse(toks)).collect())
        }
        "m" => {
            let n: usize = rest.parse().unwrap();
            Value::Map((0..n).map(|_| (parse(toks), parse(toks))).collect())
        }
        _ => panic!("bad token {}", t),
    }
}

fn render(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Nil => out.push("n".into()),
        Value::Bool(b) => out.push(if *b { "t" } else { "f" }.into()),
        Value::Int(i) if *i >= 0 => out.push(format!("u:{}", i)),
        Value::Int(i) => out.push(format!("i:{}", i)),
        Value::UInt(u) => out.push(format!("u:{}", u)),
        Value::F32(f) => out.push(format!("f32:{:08x}", f.to_bits())),
        Value::Float(f) => out.push(format!("f64:{:016x}", f.to_bits())),
        Value::Str(s) => out.push(format!("s:{}", hex(s.as_bytes()))),
        Value::RawStr(s) => out.push(format!("s:{}", hex(s))),
        Value::Bin(b) => out.push(format!("b:{}", hex(b))),
        Value::Channel(h) => out.push(format!("c:{}", h)),
        Value::Ext(t, d) => out.push(format!("x:{}:{}", t, hex(d))),
        Value::Array(a) => {
            out.push(format!("a:{}", a.len()));
            for e in a {
                render(e, out);
            }
        }
        Value::Map(m) => {
            out.push(format!("m:{}", m.len()));
            for (k, e) in m {
                render(k, out);
                render(e, out);
            }
        }
    }
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: vectors_test FILE");
    let text = std::fs::read_to_string(&path).expect("read the vectors");
    let mut out = String::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert!(f.len() == 3, "bad line");
        let (name, msg) = (f[0], unhex(f[1]));
        let v = match Value::decode(&msg) {
            Ok(v) => v,
            Err(_) => {
                writeln!(out, "{}\tERR\t-\t-", name).unwrap();
                continue;
            }
        };
        let encoded = if f[2] == "ERR" {
            "-".to_string()
        } else {
            let mut toks = f[2].split(' ');
            let tv = parse(&mut toks);
            assert!(toks.next().is_none(), "{}: tokens left over", name);
            hex(&tv.to_msgpack())
        };
        let mut toks = Vec::new();
        render(&v, &mut toks);
        writeln!(out, "{}\t{}\t{}\t{}", name, hex(&v.to_msgpack()), encoded, toks.join(" ")).unwrap();
    }
    print!("{}", out);
}
