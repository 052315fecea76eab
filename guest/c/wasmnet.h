/*
 * wasmnet.h - C guest SDK for wasmnet (ABI v1, see abi/README.md).
 *
 * Build a guest with clang's wasm32-wasi target and Debian's wasi-libc:
 *
 *     clang-14 --target=wasm32-wasi --sysroot=/usr -O2 \
 *         -mllvm -rotation-max-header-size=0 -I guest/c \
 *         guest/c/wasmnet.c myguest.c -o myguest.wasm
 *
 * (-mllvm -rotation-max-header-size=0 keeps a loop's division and remainder
 * of the same numbers one division: WebAssembly has no instruction for both;
 * RATIONALE.md, "Why do C guests build without loop rotation?")
 *
 * (Debian's wasi-libc installs its headers in /usr/include/wasm32-wasi and its
 * libraries in /usr/lib/wasm32-wasi, which clang finds under --sysroot=/usr;
 * the builtins come from libclang-rt-14-dev-wasm32.)
 *
 * The SDK has two halves:
 *   - the msgpack codec (wasmnet_writer, wasmnet_reader): plain C99/C11, no
 *     imports; define WASMNET_CODEC_ONLY to compile only this half (for native
 *     tests with gcc);
 *   - the channel API (wasmnet_chan, wasmnet_send, wasmnet_receive, ...): thin
 *     wrappers over the host functions imported from module "wasmnet".
 *
 * Errors. Every function that can fail returns an int: WASMNET_OK (0) on
 * success, else a negative code. Codes -1..-8 are the ABI's result codes,
 * passed through unchanged; codes <= -100 come from the SDK itself.
 *
 * Memory. The writer and the receive buffer grow with malloc/realloc and are
 * released with wasmnet_writer_free / wasmnet_buf_free. The reader never
 * allocates: strings, byte strings and ext payloads it returns point into the
 * buffer being read.
 */
#ifndef WASMNET_H
#define WASMNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- result codes ---------------------------------------------------- */

enum {
	WASMNET_OK = 0,
	/* ABI result codes (abi/README.md) */
	WASMNET_ECLOSED = -1,      /* channel closed: end of stream, or closed by this guest */
	WASMNET_ETIMEOUT = -2,     /* receive's timeout passed with no message */
	WASMNET_ETOOLARGE = -3,    /* send: message exceeds the agent's maximum size */
	WASMNET_EUNKNOWN = -4,     /* the handle names no channel this guest holds */
	WASMNET_EREMOTE = -5,      /* the peer closed the channel with an error (text in the buffer) */
	WASMNET_EBADVALUE = -6,    /* the bytes sent are not one msgpack value, or name a foreign channel */
	WASMNET_EMEMORY = -7,      /* a pointer range falls outside the guest's memory */
	WASMNET_EUNAVAILABLE = -8, /* the agent is shutting down, or too many channels */
	/* SDK codes */
	WASMNET_ENOMEM = -100,  /* malloc/realloc failed */
	WASMNET_EDECODE = -101, /* malformed or truncated msgpack, or nesting deeper than WASMNET_MAX_DEPTH */
	WASMNET_ETYPE = -102,   /* the value has another type than the one asked for */
	WASMNET_ERANGE = -103,  /* an integer does not fit the type asked for; a length exceeds 2^32-1 */
	WASMNET_EINVAL = -104   /* a bad argument (e.g. a negative handle) */
};

/* wasmnet_strerror returns a static English name for a result code. */
const char *wasmnet_strerror(int code);

/* An integer beyond 64 bits (Python's and Starlark's 2**80) is the ext type
 * WASMNET_BIGINT_EXT: a sign byte (0 positive, 1 negative), then the
 * magnitude big-endian, no leading zero, at most WASMNET_MAX_BIGINT_BYTES
 * (abi/README.md). The reader gives it as WASMNET_EXT with its payload, the
 * writer sends one with wasmnet_write_ext; the agent refuses a malformed one. */
#define WASMNET_BIGINT_EXT 2
#define WASMNET_MAX_BIGINT_BYTES 1024

/* Nesting limit of wasmnet_skip and wasmnet_copy. */
#define WASMNET_MAX_DEPTH 512

/* ---- msgpack writer --------------------------------------------------- */

/*
 * A growable output buffer. Errors are sticky: after the first failure
 * (WASMNET_ENOMEM, WASMNET_ERANGE) every write is a no-op and err keeps the
 * code, so a message can be written in full and checked once.
 * Zero-initialising (wasmnet_writer w = {0};) is the same as wasmnet_writer_init.
 */
typedef struct wasmnet_writer {
	uint8_t *data;
	size_t len;
	size_t cap;
	int err;
} wasmnet_writer;

void wasmnet_writer_init(wasmnet_writer *w);
void wasmnet_writer_reset(wasmnet_writer *w); /* len = 0, err = 0; keeps the memory */
void wasmnet_writer_free(wasmnet_writer *w);

/* Every writer uses the smallest msgpack form (the canonical bytes). */
void wasmnet_write_nil(wasmnet_writer *w);
void wasmnet_write_bool(wasmnet_writer *w, bool v);
void wasmnet_write_int(wasmnet_writer *w, int64_t v);   /* v >= 0 is written as by wasmnet_write_uint */
void wasmnet_write_uint(wasmnet_writer *w, uint64_t v);
void wasmnet_write_f32(wasmnet_writer *w, float v);
void wasmnet_write_f64(wasmnet_writer *w, double v);
void wasmnet_write_str(wasmnet_writer *w, const char *s, size_t n); /* UTF-8, not checked */
void wasmnet_write_cstr(wasmnet_writer *w, const char *s);         /* NUL-terminated */
void wasmnet_write_bin(wasmnet_writer *w, const void *p, size_t n);
void wasmnet_write_array(wasmnet_writer *w, uint32_t n); /* then write n values */
void wasmnet_write_map(wasmnet_writer *w, uint32_t n);   /* then write n key/value pairs */
void wasmnet_write_chan_handle(wasmnet_writer *w, uint32_t handle); /* ext 1, fixext 4 */
void wasmnet_write_ext(wasmnet_writer *w, int8_t type, const void *p, size_t n);
void wasmnet_write_raw(wasmnet_writer *w, const void *p, size_t n); /* pre-encoded bytes */

/* ---- msgpack reader --------------------------------------------------- */

typedef enum wasmnet_type {
	WASMNET_NIL,
	WASMNET_BOOL,
	WASMNET_INT,   /* a negative integer (i) */
	WASMNET_UINT,  /* a non-negative integer (u), whatever form it was encoded in */
	WASMNET_F32,
	WASMNET_F64,
	WASMNET_STR,   /* data, len */
	WASMNET_BIN,   /* data, len */
	WASMNET_ARRAY, /* n elements follow */
	WASMNET_MAP,   /* n key/value pairs follow */
	WASMNET_CHAN,  /* ext 1 with a 4-byte payload: the handle is in chan */
	WASMNET_EXT    /* any other ext: ext_type, data, len */
} wasmnet_type;

/* One item read by wasmnet_read: a scalar, or the header of a container. */
typedef struct wasmnet_item {
	wasmnet_type type;
	union {
		bool b;
		int64_t i;
		uint64_t u;
		float f32;
		double f64;
		uint32_t n;    /* ARRAY, MAP: number of elements or pairs */
		uint32_t chan; /* CHAN */
	} v;
	const uint8_t *data; /* STR, BIN, EXT: payload, pointing into the reader's buffer */
	uint32_t len;        /* STR, BIN, EXT: payload length */
	int8_t ext_type;     /* EXT */
} wasmnet_item;

typedef struct wasmnet_reader {
	const uint8_t *data;
	size_t len;
	size_t pos;
} wasmnet_reader;

void wasmnet_reader_init(wasmnet_reader *r, const void *data, size_t len);

/* wasmnet_read reads the next item. For ARRAY and MAP only the header is
 * consumed: the elements follow. Accepts every msgpack form. Returns
 * WASMNET_OK or WASMNET_EDECODE (the position is then unchanged). */
int wasmnet_read(wasmnet_reader *r, wasmnet_item *it);
/* wasmnet_peek is wasmnet_read without consuming. */
int wasmnet_peek(const wasmnet_reader *r, wasmnet_item *it);
/* wasmnet_skip consumes one complete value (containers with their elements). */
int wasmnet_skip(wasmnet_reader *r);
/* wasmnet_copy decodes one complete value from r and writes it to w in the
 * canonical form (used by the conformance guest to prove the codec). */
int wasmnet_copy(wasmnet_reader *r, wasmnet_writer *w);
/* wasmnet_at_end is true when every byte has been read. */
bool wasmnet_at_end(const wasmnet_reader *r);

/* Typed helpers. Each consumes one value on success; on WASMNET_ETYPE or
 * WASMNET_ERANGE the position is unchanged. */
int wasmnet_read_nil(wasmnet_reader *r);
int wasmnet_read_bool(wasmnet_reader *r, bool *out);
int wasmnet_read_int(wasmnet_reader *r, int64_t *out);   /* any integer in int64 range */
int wasmnet_read_uint(wasmnet_reader *r, uint64_t *out); /* any non-negative integer */
int wasmnet_read_float(wasmnet_reader *r, double *out);  /* float32, float64 or any integer */
int wasmnet_read_str(wasmnet_reader *r, const char **s, size_t *n); /* str or bin (not NUL-terminated) */
int wasmnet_read_bin(wasmnet_reader *r, const uint8_t **p, size_t *n); /* bin or str */
int wasmnet_read_array(wasmnet_reader *r, uint32_t *n);
int wasmnet_read_map(wasmnet_reader *r, uint32_t *n);
int wasmnet_read_chan_handle(wasmnet_reader *r, uint32_t *handle);

/* ---- channels --------------------------------------------------------- */

/* A channel handle (abi/README.md: a non-negative i32). */
typedef struct wasmnet_chan {
	int32_t handle;
} wasmnet_chan;

/* A growable receive buffer; zero-initialise it ({0}) before the first
 * receive. It starts at WASMNET_INITIAL_BUFFER bytes and grows to the size
 * the host reports on -3. data[len] is always a NUL byte after a receive, so
 * an error text can be printed directly. */
typedef struct wasmnet_buf {
	uint8_t *data;
	size_t len;
	size_t cap; /* usable capacity; one more byte is allocated for the NUL */
} wasmnet_buf;

#define WASMNET_INITIAL_BUFFER 65536
#define WASMNET_FOREVER ((int64_t)-1) /* receive timeout: wait without limit */
#define WASMNET_POLL ((int64_t)0)     /* receive timeout: do not wait */
#define WASMNET_MS ((int64_t)1000000) /* nanoseconds in a millisecond */

void wasmnet_buf_free(wasmnet_buf *b);

static inline void wasmnet_write_chan(wasmnet_writer *w, wasmnet_chan ch)
{
	wasmnet_write_chan_handle(w, (uint32_t)ch.handle);
}

static inline int wasmnet_read_chan(wasmnet_reader *r, wasmnet_chan *ch)
{
	uint32_t h;
	int rc = wasmnet_read_chan_handle(r, &h);
	if (rc == WASMNET_OK) {
		if (h > INT32_MAX)
			return WASMNET_ERANGE;
		ch->handle = (int32_t)h;
	}
	return rc;
}

#ifndef WASMNET_CODEC_ONLY

/* wasmnet_init calls the host's abi_v1 once (declaring the ABI version). It
 * runs automatically as a constructor before main; calling it again is free. */
void wasmnet_init(void);

/* The agent's ABI version (abi_version()). */
int wasmnet_abi_version(void);

/* The channel the execution was started with. */
wasmnet_chan wasmnet_main(void);

/* Opens a new channel: WASMNET_OK with *out set, or WASMNET_EUNAVAILABLE. */
int wasmnet_new(wasmnet_chan *out);

/* Sends one msgpack value (exactly one, already encoded).
 * Errors: ECLOSED, ETOOLARGE, EUNKNOWN, EBADVALUE, EMEMORY, EUNAVAILABLE. */
int wasmnet_send(wasmnet_chan ch, const void *data, size_t len);

/* Sends the writer's bytes; returns w->err first if the writer failed. */
int wasmnet_send_writer(wasmnet_chan ch, const wasmnet_writer *w);

/* Receives the next message into b, waiting up to timeout_ns nanoseconds
 * (WASMNET_FOREVER, WASMNET_POLL, or n * WASMNET_MS). On WASMNET_OK the
 * message is b->data[0:b->len]; on WASMNET_EREMOTE the peer's error text is
 * b->data[0:b->len] (NUL-terminated). Grows b as the host asks (-3).
 * Other errors: ECLOSED (end of stream), ETIMEOUT, EUNKNOWN, EMEMORY,
 * EUNAVAILABLE, ENOMEM, ERANGE (a message over 2 GiB). */
int wasmnet_receive(wasmnet_chan ch, wasmnet_buf *b, int64_t timeout_ns);

/* Closes the channel (twice is not an error). Errors: EUNKNOWN. */
int wasmnet_close(wasmnet_chan ch);

/* Closes only the sending side (half-close): the peer receives what was sent,
 * then end of stream, and may still send; receive goes on working here.
 * Errors: EUNKNOWN. */
int wasmnet_close_send(wasmnet_chan ch);

/* Closes the channel with an error text the peer receives as a RemoteError.
 * Errors: EUNKNOWN, EMEMORY. */
int wasmnet_close_error(wasmnet_chan ch, const char *msg);
int wasmnet_close_error_n(wasmnet_chan ch, const char *msg, size_t n);

/* ---- channels as byte streams ----------------------------------------- */

/* A reader of a channel's items concatenated, as the Go SDK's Chan.Reader
 * and execnet's channel.makefile("r"): each item must be a str or a bin.
 * Initialise it with wasmnet_stream_init and release it with
 * wasmnet_stream_free. It keeps the unread rest of one item: use one per
 * channel, and do not mix it with wasmnet_receive on that channel. */
typedef struct wasmnet_stream {
	wasmnet_chan ch;
	wasmnet_buf buf; /* the item being read; after EREMOTE, the peer's error text */
	size_t off, end; /* the unread bytes: buf.data[off:end] */
} wasmnet_stream;

void wasmnet_stream_init(wasmnet_stream *s, wasmnet_chan ch);
void wasmnet_stream_free(wasmnet_stream *s);

/* Reads up to n bytes into p, waiting for an item when none is left:
 * WASMNET_OK with 0 < *got <= n (or *got = 0 when n is 0), WASMNET_ECLOSED at
 * the end of the stream (the peer closed the channel or its sending side),
 * WASMNET_EREMOTE with the peer's error text in s->buf.data (NUL-terminated),
 * WASMNET_ETYPE for an item that is not a str or bin (the item is dropped),
 * or another error of wasmnet_receive. */
int wasmnet_stream_read(wasmnet_stream *s, void *p, size_t n, size_t *got);

/* Sends p[0:n] as one bin item, as the Go SDK's Chan.Writer and execnet's
 * channel.makefile("w") do. Errors: those of wasmnet_send, and ENOMEM. */
int wasmnet_stream_write(wasmnet_chan ch, const void *p, size_t n);

#endif /* WASMNET_CODEC_ONLY */

#ifdef __cplusplus
}
#endif

#endif /* WASMNET_H */
