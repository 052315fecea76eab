/*
 * wasmnet.c - C guest SDK for wasmnet (ABI v1). See wasmnet.h.
 * With -DWASMNET_CODEC_ONLY only the msgpack codec is compiled (no imports),
 * so it also builds natively, e.g. gcc -DWASMNET_CODEC_ONLY for tests.
 */
#include "wasmnet.h"

#include <stdlib.h>
#include <string.h>

const char *wasmnet_strerror(int code)
{
	switch (code) {
	case WASMNET_OK: return "ok";
	case WASMNET_ECLOSED: return "closed";
	case WASMNET_ETIMEOUT: return "timeout";
	case WASMNET_ETOOLARGE: return "too large";
	case WASMNET_EUNKNOWN: return "unknown channel";
	case WASMNET_EREMOTE: return "remote error";
	case WASMNET_EBADVALUE: return "bad value";
	case WASMNET_EMEMORY: return "memory out of range";
	case WASMNET_EUNAVAILABLE: return "unavailable";
	case WASMNET_ENOMEM: return "out of memory";
	case WASMNET_EDECODE: return "malformed msgpack";
	case WASMNET_ETYPE: return "wrong type";
	case WASMNET_ERANGE: return "out of range";
	case WASMNET_EINVAL: return "invalid argument";
	}
	return code > 0 ? "handle" : "unknown error";
}

/* ---- writer ------------------------------------------------------------ */

void wasmnet_writer_init(wasmnet_writer *w)
{
	w->data = NULL;
	w->len = w->cap = 0;
	w->err = 0;
}

void wasmnet_writer_reset(wasmnet_writer *w)
{
	w->len = 0;
	w->err = 0;
}

void wasmnet_writer_free(wasmnet_writer *w)
{
	free(w->data);
	wasmnet_writer_init(w);
}

static uint8_t *w_reserve(wasmnet_writer *w, size_t n)
{
	if (w->err)
		return NULL;
	if (n > SIZE_MAX - w->len) {
		w->err = WASMNET_ENOMEM;
		return NULL;
	}
	if (w->len + n > w->cap) {
		size_t c = w->cap ? w->cap : 64;
		while (c < w->len + n)
			c = c > SIZE_MAX / 2 ? w->len + n : c * 2;
		uint8_t *d = realloc(w->data, c);
		if (!d) {
			w->err = WASMNET_ENOMEM;
			return NULL;
		}
		w->data = d;
		w->cap = c;
	}
	uint8_t *p = w->data + w->len;
	w->len += n;
	return p;
}

static void w_byte(wasmnet_writer *w, uint8_t b)
{
	uint8_t *p = w_reserve(w, 1);
	if (p)
		p[0] = b;
}

/* w_head writes a type byte followed by v as an n-byte big-endian integer. */
static void w_head(wasmnet_writer *w, uint8_t code, uint64_t v, int n)
{
	uint8_t *p = w_reserve(w, 1 + (size_t)n);
	if (!p)
		return;
	p[0] = code;
	for (int i = n; i >= 1; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

void wasmnet_write_raw(wasmnet_writer *w, const void *src, size_t n)
{
	if (n == 0)
		return;
	uint8_t *p = w_reserve(w, n);
	if (p)
		memcpy(p, src, n);
}

void wasmnet_write_nil(wasmnet_writer *w) { w_byte(w, 0xc0); }

void wasmnet_write_bool(wasmnet_writer *w, bool v) { w_byte(w, v ? 0xc3 : 0xc2); }

void wasmnet_write_uint(wasmnet_writer *w, uint64_t v)
{
	if (v <= 0x7f)
		w_byte(w, (uint8_t)v);
	else if (v <= 0xff)
		w_head(w, 0xcc, v, 1);
	else if (v <= 0xffff)
		w_head(w, 0xcd, v, 2);
	else if (v <= 0xffffffffu)
		w_head(w, 0xce, v, 4);
	else
		w_head(w, 0xcf, v, 8);
}

void wasmnet_write_int(wasmnet_writer *w, int64_t v)
{
	if (v >= 0)
		wasmnet_write_uint(w, (uint64_t)v);
	else if (v >= -32)
		w_byte(w, (uint8_t)(int8_t)v);
	else if (v >= INT8_MIN)
		w_head(w, 0xd0, (uint64_t)v, 1);
	else if (v >= INT16_MIN)
		w_head(w, 0xd1, (uint64_t)v, 2);
	else if (v >= INT32_MIN)
		w_head(w, 0xd2, (uint64_t)v, 4);
	else
		w_head(w, 0xd3, (uint64_t)v, 8);
}

void wasmnet_write_f32(wasmnet_writer *w, float v)
{
	uint32_t bits;
	memcpy(&bits, &v, 4);
	w_head(w, 0xca, bits, 4);
}

void wasmnet_write_f64(wasmnet_writer *w, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, 8);
	w_head(w, 0xcb, bits, 8);
}

static int too_long(wasmnet_writer *w, size_t n)
{
	if ((uint64_t)n > 0xffffffffu) {
		if (!w->err)
			w->err = WASMNET_ERANGE;
		return 1;
	}
	return 0;
}

void wasmnet_write_str(wasmnet_writer *w, const char *s, size_t n)
{
	if (too_long(w, n))
		return;
	if (n <= 31)
		w_byte(w, (uint8_t)(0xa0 | n));
	else if (n <= 0xff)
		w_head(w, 0xd9, n, 1);
	else if (n <= 0xffff)
		w_head(w, 0xda, n, 2);
	else
		w_head(w, 0xdb, n, 4);
	wasmnet_write_raw(w, s, n);
}

void wasmnet_write_cstr(wasmnet_writer *w, const char *s) { wasmnet_write_str(w, s, strlen(s)); }

void wasmnet_write_bin(wasmnet_writer *w, const void *p, size_t n)
{
	if (too_long(w, n))
		return;
	if (n <= 0xff)
		w_head(w, 0xc4, n, 1);
	else if (n <= 0xffff)
		w_head(w, 0xc5, n, 2);
	else
		w_head(w, 0xc6, n, 4);
	wasmnet_write_raw(w, p, n);
}

void wasmnet_write_array(wasmnet_writer *w, uint32_t n)
{
	if (n <= 15)
		w_byte(w, (uint8_t)(0x90 | n));
	else if (n <= 0xffff)
		w_head(w, 0xdc, n, 2);
	else
		w_head(w, 0xdd, n, 4);
}

void wasmnet_write_map(wasmnet_writer *w, uint32_t n)
{
	if (n <= 15)
		w_byte(w, (uint8_t)(0x80 | n));
	else if (n <= 0xffff)
		w_head(w, 0xde, n, 2);
	else
		w_head(w, 0xdf, n, 4);
}

void wasmnet_write_ext(wasmnet_writer *w, int8_t type, const void *p, size_t n)
{
	if (too_long(w, n))
		return;
	switch (n) {
	case 1: w_byte(w, 0xd4); break;
	case 2: w_byte(w, 0xd5); break;
	case 4: w_byte(w, 0xd6); break;
	case 8: w_byte(w, 0xd7); break;
	case 16: w_byte(w, 0xd8); break;
	default:
		if (n <= 0xff)
			w_head(w, 0xc7, n, 1);
		else if (n <= 0xffff)
			w_head(w, 0xc8, n, 2);
		else
			w_head(w, 0xc9, n, 4);
	}
	w_byte(w, (uint8_t)type);
	wasmnet_write_raw(w, p, n);
}

void wasmnet_write_chan_handle(wasmnet_writer *w, uint32_t h)
{
	uint8_t *p = w_reserve(w, 6);
	if (!p)
		return;
	p[0] = 0xd6;
	p[1] = 0x01;
	p[2] = (uint8_t)(h >> 24);
	p[3] = (uint8_t)(h >> 16);
	p[4] = (uint8_t)(h >> 8);
	p[5] = (uint8_t)h;
}

/* ---- reader ------------------------------------------------------------ */

void wasmnet_reader_init(wasmnet_reader *r, const void *data, size_t len)
{
	r->data = data;
	r->len = len;
	r->pos = 0;
}

bool wasmnet_at_end(const wasmnet_reader *r) { return r->pos >= r->len; }

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* decode reads one item at r->data[pos:] into it and returns the number of
 * bytes it takes, or 0 if the bytes are malformed or truncated. */
static size_t decode(const uint8_t *p, size_t avail, wasmnet_item *it)
{
	if (avail < 1)
		return 0;
	uint8_t c = p[0];
	memset(it, 0, sizeof *it);
	size_t hl = 1;      /* header length */
	uint64_t plen = 0;  /* payload length (str, bin, ext) */
	int lenbytes = 0;

	if (c <= 0x7f) {
		it->type = WASMNET_UINT;
		it->v.u = c;
		return 1;
	}
	if (c >= 0xe0) {
		it->type = WASMNET_INT;
		it->v.i = (int8_t)c;
		return 1;
	}
	if (c >= 0x80 && c <= 0x8f) {
		it->type = WASMNET_MAP;
		it->v.n = c & 0x0f;
		return 1;
	}
	if (c >= 0x90 && c <= 0x9f) {
		it->type = WASMNET_ARRAY;
		it->v.n = c & 0x0f;
		return 1;
	}
	if (c >= 0xa0 && c <= 0xbf) {
		it->type = WASMNET_STR;
		plen = c & 0x1f;
		goto payload;
	}
	switch (c) {
	case 0xc0: it->type = WASMNET_NIL; return 1;
	case 0xc2: it->type = WASMNET_BOOL; it->v.b = false; return 1;
	case 0xc3: it->type = WASMNET_BOOL; it->v.b = true; return 1;
	case 0xc4: case 0xc5: case 0xc6:
		it->type = WASMNET_BIN;
		lenbytes = 1 << (c - 0xc4);
		goto sized;
	case 0xd9: case 0xda: case 0xdb:
		it->type = WASMNET_STR;
		lenbytes = 1 << (c - 0xd9);
		goto sized;
	case 0xc7: case 0xc8: case 0xc9:
		it->type = WASMNET_EXT;
		lenbytes = 1 << (c - 0xc7);
		if (avail < 1 + (size_t)lenbytes + 1)
			return 0;
		plen = be(p + 1, lenbytes);
		it->ext_type = (int8_t)p[1 + lenbytes];
		hl = 1 + (size_t)lenbytes + 1;
		goto payload;
	case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
		it->type = WASMNET_EXT;
		if (avail < 2)
			return 0;
		plen = (uint64_t)1 << (c - 0xd4);
		it->ext_type = (int8_t)p[1];
		hl = 2;
		goto payload;
	case 0xca: {
		if (avail < 5)
			return 0;
		uint32_t bits = (uint32_t)be(p + 1, 4);
		it->type = WASMNET_F32;
		memcpy(&it->v.f32, &bits, 4);
		return 5;
	}
	case 0xcb: {
		if (avail < 9)
			return 0;
		uint64_t bits = be(p + 1, 8);
		it->type = WASMNET_F64;
		memcpy(&it->v.f64, &bits, 8);
		return 9;
	}
	case 0xcc: case 0xcd: case 0xce: case 0xcf: {
		int n = 1 << (c - 0xcc);
		if (avail < 1 + (size_t)n)
			return 0;
		it->type = WASMNET_UINT;
		it->v.u = be(p + 1, n);
		return 1 + (size_t)n;
	}
	case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
		int n = 1 << (c - 0xd0);
		if (avail < 1 + (size_t)n)
			return 0;
		uint64_t u = be(p + 1, n);
		int64_t v;
		switch (n) {
		case 1: v = (int8_t)u; break;
		case 2: v = (int16_t)u; break;
		case 4: v = (int32_t)u; break;
		default: v = (int64_t)u; break;
		}
		if (v >= 0) {
			it->type = WASMNET_UINT;
			it->v.u = (uint64_t)v;
		} else {
			it->type = WASMNET_INT;
			it->v.i = v;
		}
		return 1 + (size_t)n;
	}
	case 0xdc: case 0xdd: {
		int n = c == 0xdc ? 2 : 4;
		if (avail < 1 + (size_t)n)
			return 0;
		it->type = WASMNET_ARRAY;
		it->v.n = (uint32_t)be(p + 1, n);
		return 1 + (size_t)n;
	}
	case 0xde: case 0xdf: {
		int n = c == 0xde ? 2 : 4;
		if (avail < 1 + (size_t)n)
			return 0;
		it->type = WASMNET_MAP;
		it->v.n = (uint32_t)be(p + 1, n);
		return 1 + (size_t)n;
	}
	default: /* 0xc1 is never used */
		return 0;
	}
sized:
	if (avail < 1 + (size_t)lenbytes)
		return 0;
	plen = be(p + 1, lenbytes);
	hl = 1 + (size_t)lenbytes;
payload:
	if (hl > avail || plen > avail - hl)
		return 0;
	it->data = p + hl;
	it->len = (uint32_t)plen;
	if (it->type == WASMNET_EXT && it->ext_type == 1) {
		if (plen != 4)
			return 0; /* a channel is always 4 bytes */
		it->type = WASMNET_CHAN;
		it->v.chan = (uint32_t)be(p + hl, 4);
	}
	return hl + (size_t)plen;
}

int wasmnet_peek(const wasmnet_reader *r, wasmnet_item *it)
{
	if (r->pos > r->len)
		return WASMNET_EDECODE;
	return decode(r->data + r->pos, r->len - r->pos, it) ? WASMNET_OK : WASMNET_EDECODE;
}

int wasmnet_read(wasmnet_reader *r, wasmnet_item *it)
{
	if (r->pos > r->len)
		return WASMNET_EDECODE;
	size_t n = decode(r->data + r->pos, r->len - r->pos, it);
	if (!n)
		return WASMNET_EDECODE;
	/* A container cannot have more elements than bytes left. */
	if ((it->type == WASMNET_ARRAY || it->type == WASMNET_MAP) &&
	    (uint64_t)it->v.n * (it->type == WASMNET_MAP ? 2 : 1) > r->len - r->pos - n)
		return WASMNET_EDECODE;
	r->pos += n;
	return WASMNET_OK;
}

/* walk consumes one value; if w is not NULL it re-encodes it canonically. */
static int walk(wasmnet_reader *r, wasmnet_writer *w, int depth)
{
	if (depth > WASMNET_MAX_DEPTH)
		return WASMNET_EDECODE;
	wasmnet_item it;
	int rc = wasmnet_read(r, &it);
	if (rc)
		return rc;
	uint64_t n = 0;
	switch (it.type) {
	case WASMNET_ARRAY:
		n = it.v.n;
		if (w)
			wasmnet_write_array(w, it.v.n);
		break;
	case WASMNET_MAP:
		n = (uint64_t)it.v.n * 2;
		if (w)
			wasmnet_write_map(w, it.v.n);
		break;
	default:
		if (!w)
			return WASMNET_OK;
		switch (it.type) {
		case WASMNET_NIL: wasmnet_write_nil(w); break;
		case WASMNET_BOOL: wasmnet_write_bool(w, it.v.b); break;
		case WASMNET_INT: wasmnet_write_int(w, it.v.i); break;
		case WASMNET_UINT: wasmnet_write_uint(w, it.v.u); break;
		case WASMNET_F32: wasmnet_write_f32(w, it.v.f32); break;
		case WASMNET_F64: wasmnet_write_f64(w, it.v.f64); break;
		case WASMNET_STR: wasmnet_write_str(w, (const char *)it.data, it.len); break;
		case WASMNET_BIN: wasmnet_write_bin(w, it.data, it.len); break;
		case WASMNET_CHAN: wasmnet_write_chan_handle(w, it.v.chan); break;
		case WASMNET_EXT: wasmnet_write_ext(w, it.ext_type, it.data, it.len); break;
		default: break;
		}
		return w->err;
	}
	for (uint64_t i = 0; i < n; i++) {
		rc = walk(r, w, depth + 1);
		if (rc)
			return rc;
	}
	return w ? w->err : WASMNET_OK;
}

int wasmnet_skip(wasmnet_reader *r)
{
	size_t pos = r->pos;
	int rc = walk(r, NULL, 0);
	if (rc)
		r->pos = pos;
	return rc;
}

int wasmnet_copy(wasmnet_reader *r, wasmnet_writer *w)
{
	size_t pos = r->pos;
	int rc = walk(r, w, 0);
	if (rc)
		r->pos = pos;
	return rc;
}

/* next peeks the next item without consuming it; the typed readers below
 * check its type and consume it only on success (advance). */
static int next(wasmnet_reader *r, wasmnet_item *it)
{
	return wasmnet_peek(r, it);
}

static void advance(wasmnet_reader *r)
{
	wasmnet_item it;
	wasmnet_read(r, &it);
}

int wasmnet_read_nil(wasmnet_reader *r)
{
	wasmnet_item it;
	int rc = next(r, &it);
	if (rc)
		return rc;
	if (it.type != WASMNET_NIL)
		return WASMNET_ETYPE;
	advance(r);
	return WASMNET_OK;
}

int wasmnet_read_bool(wasmnet_reader *r, bool *out)
{
	wasmnet_item it;
	int rc = next(r, &it);
	if (rc)
		return rc;
	if (it.type != WASMNET_BOOL)
		return WASMNET_ETYPE;
	*out = it.v.b;
	advance(r);
	return WASMNET_OK;
}

int wasmnet_read_int(wasmnet_reader *r, int64_t *out)
{
	wasmnet_item it;
	int rc = next(r, &it);
	if (rc)
		return rc;
	if (it.type == WASMNET_INT)
		*out = it.v.i;
	else if (it.type == WASMNET_UINT) {
		if (it.v.u > INT64_MAX)
			return WASMNET_ERANGE;
		*out = (int64_t)it.v.u;
	} else
		return WASMNET_ETYPE;
	advance(r);
	return WASMNET_OK;
}

int wasmnet_read_uint(wasmnet_reader *r, uint64_t *out)
{
	wasmnet_item it;
	int rc = next(r, &it);
	if (rc)
		return rc;
	if (it.type == WASMNET_INT)
		return WASMNET_ERANGE;
	if (it.type != WASMNET_UINT)
		return WASMNET_ETYPE;
	*out = it.v.u;
	advance(r);
	return WASMNET_OK;
}

int wasmnet_read_float(wasmnet_reader *r, double *out)
{
	wasmnet_item it;
	int rc = next(r, &it);
	if (rc)
		return rc;
	switch (it.type) {
	case WASMNET_F32: *out = it.v.f32; break;
	case WASMNET_F64: *out = it.v.f64; break;
	case WASMNET_INT: *out = (double)it.v.i; break;
	case WASMNET_UINT: *out = (double)it.v.u; break;
	default: return WASMNET_ETYPE;
	}
	advance(r);
	return WASMNET_OK;
}

int wasmnet_read_str(wasmnet_reader *r, const char **s, size_t *n)
{
	wasmnet_item it;
	int rc = next(r, &it);
	if (rc)
		return rc;
	if (it.type != WASMNET_STR && it.type != WASMNET_BIN)
		return WASMNET_ETYPE;
	*s = (const char *)it.data;
	*n = it.len;
	advance(r);
	return WASMNET_OK;
}

int wasmnet_read_bin(wasmnet_reader *r, const uint8_t **p, size_t *n)
{
	return wasmnet_read_str(r, (const char **)p, n);
}

int wasmnet_read_array(wasmnet_reader *r, uint32_t *n)
{
	wasmnet_item it;
	int rc = next(r, &it);
	if (rc)
		return rc;
	if (it.type != WASMNET_ARRAY)
		return WASMNET_ETYPE;
	rc = wasmnet_read(r, &it);
	if (rc)
		return rc;
	*n = it.v.n;
	return WASMNET_OK;
}

int wasmnet_read_map(wasmnet_reader *r, uint32_t *n)
{
	wasmnet_item it;
	int rc = next(r, &it);
	if (rc)
		return rc;
	if (it.type != WASMNET_MAP)
		return WASMNET_ETYPE;
	rc = wasmnet_read(r, &it);
	if (rc)
		return rc;
	*n = it.v.n;
	return WASMNET_OK;
}

int wasmnet_read_chan_handle(wasmnet_reader *r, uint32_t *h)
{
	wasmnet_item it;
	int rc = next(r, &it);
	if (rc)
		return rc;
	if (it.type != WASMNET_CHAN)
		return WASMNET_ETYPE;
	*h = it.v.chan;
	advance(r);
	return WASMNET_OK;
}

/* ---- channels ---------------------------------------------------------- */

void wasmnet_buf_free(wasmnet_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

#ifndef WASMNET_CODEC_ONLY

#define WASMNET_IMPORT(name) __attribute__((import_module("wasmnet"), import_name(name)))

WASMNET_IMPORT("abi_version") int32_t wasmnet_host_abi_version(void);
WASMNET_IMPORT("abi_v1") int32_t wasmnet_host_abi_v1(void);
WASMNET_IMPORT("channel_main") int32_t wasmnet_host_channel_main(void);
WASMNET_IMPORT("channel_new") int32_t wasmnet_host_channel_new(void);
WASMNET_IMPORT("send") int32_t wasmnet_host_send(int32_t h, const uint8_t *ptr, int32_t len);
WASMNET_IMPORT("receive")
int32_t wasmnet_host_receive(int32_t h, uint8_t *buf, int32_t cap, int64_t timeout_ns, int32_t *len_out);
WASMNET_IMPORT("close") int32_t wasmnet_host_close(int32_t h);
WASMNET_IMPORT("close_error") int32_t wasmnet_host_close_error(int32_t h, const char *ptr, int32_t len);
WASMNET_IMPORT("close_send") int32_t wasmnet_host_close_send(int32_t h);

static int wasmnet_initialised;

__attribute__((constructor)) void wasmnet_init(void)
{
	if (!wasmnet_initialised) {
		wasmnet_initialised = 1;
		(void)wasmnet_host_abi_v1();
	}
}

int wasmnet_abi_version(void) { return wasmnet_host_abi_version(); }

wasmnet_chan wasmnet_main(void)
{
	wasmnet_init();
	wasmnet_chan ch = {wasmnet_host_channel_main()};
	return ch;
}

int wasmnet_new(wasmnet_chan *out)
{
	wasmnet_init();
	int32_t h = wasmnet_host_channel_new();
	if (h < 0)
		return h;
	out->handle = h;
	return WASMNET_OK;
}

int wasmnet_send(wasmnet_chan ch, const void *data, size_t len)
{
	if (len > INT32_MAX)
		return WASMNET_ETOOLARGE;
	return wasmnet_host_send(ch.handle, data, (int32_t)len);
}

int wasmnet_send_writer(wasmnet_chan ch, const wasmnet_writer *w)
{
	if (w->err)
		return w->err;
	return wasmnet_send(ch, w->data, w->len);
}

static int buf_grow(wasmnet_buf *b, size_t n)
{
	if (n > INT32_MAX)
		return WASMNET_ERANGE;
	uint8_t *d = realloc(b->data, n + 1);
	if (!d)
		return WASMNET_ENOMEM;
	b->data = d;
	b->cap = n;
	return WASMNET_OK;
}

int wasmnet_receive(wasmnet_chan ch, wasmnet_buf *b, int64_t timeout_ns)
{
	int rc;
	if (!b->data && (rc = buf_grow(b, WASMNET_INITIAL_BUFFER)))
		return rc;
	for (;;) {
		int32_t n = 0;
		rc = wasmnet_host_receive(ch.handle, b->data, (int32_t)b->cap, timeout_ns, &n);
		if (rc == WASMNET_ETOOLARGE) {
			if (n < 0 || (size_t)n <= b->cap)
				return WASMNET_ETOOLARGE; /* the host broke the ABI; do not loop */
			if ((rc = buf_grow(b, (size_t)n)))
				return rc;
			continue;
		}
		if ((rc == WASMNET_OK || rc == WASMNET_EREMOTE) && n >= 0 && (size_t)n <= b->cap)
			b->len = (size_t)n;
		else
			b->len = 0;
		b->data[b->len] = 0;
		return rc;
	}
}

int wasmnet_close(wasmnet_chan ch) { return wasmnet_host_close(ch.handle); }

int wasmnet_close_send(wasmnet_chan ch) { return wasmnet_host_close_send(ch.handle); }

int wasmnet_close_error_n(wasmnet_chan ch, const char *msg, size_t n)
{
	if (n > INT32_MAX)
		n = INT32_MAX;
	return wasmnet_host_close_error(ch.handle, msg, (int32_t)n);
}

int wasmnet_close_error(wasmnet_chan ch, const char *msg)
{
	return wasmnet_close_error_n(ch, msg, strlen(msg));
}

void wasmnet_stream_init(wasmnet_stream *s, wasmnet_chan ch)
{
	memset(s, 0, sizeof *s);
	s->ch = ch;
}

void wasmnet_stream_free(wasmnet_stream *s)
{
	wasmnet_buf_free(&s->buf);
	s->off = s->end = 0;
}

/* stream_next receives the next item and points s->off, s->end at its bytes. */
static int stream_next(wasmnet_stream *s)
{
	s->off = s->end = 0;
	int rc = wasmnet_receive(s->ch, &s->buf, WASMNET_FOREVER);
	if (rc)
		return rc;
	wasmnet_reader r;
	wasmnet_item it;
	wasmnet_reader_init(&r, s->buf.data, s->buf.len);
	if ((rc = wasmnet_read(&r, &it)))
		return rc;
	if ((it.type != WASMNET_STR && it.type != WASMNET_BIN) || !wasmnet_at_end(&r))
		return WASMNET_ETYPE;
	s->off = (size_t)(it.data - s->buf.data);
	s->end = s->off + it.len;
	return WASMNET_OK;
}

int wasmnet_stream_read(wasmnet_stream *s, void *p, size_t n, size_t *got)
{
	*got = 0;
	if (n == 0)
		return WASMNET_OK;
	while (s->off >= s->end) {
		int rc = stream_next(s);
		if (rc)
			return rc;
	}
	size_t k = s->end - s->off;
	if (k > n)
		k = n;
	memcpy(p, s->buf.data + s->off, k);
	s->off += k;
	*got = k;
	return WASMNET_OK;
}

int wasmnet_stream_write(wasmnet_chan ch, const void *p, size_t n)
{
	wasmnet_writer w = {0};
	wasmnet_write_bin(&w, p, n);
	int rc = w.err ? w.err : wasmnet_send(ch, w.data, w.len);
	wasmnet_writer_free(&w);
	return rc;
}

#endif /* WASMNET_CODEC_ONLY */
