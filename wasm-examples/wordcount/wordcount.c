//go:build ignore

// (The line above keeps the go tool from treating this C file as cgo source
// of the Go guest in the same folder; clang reads it as a comment.)

/*
 * wordcount.c - the wordcount example guest in C (see main.go for the Go one).
 *
 * Receives text chunks (str or bin) on the main channel until nil or the end
 * of the stream, then sends one map of word -> count and returns. Chunks are
 * concatenated: a word may span two chunks. The rule is internal/wordcount's,
 * rune for rune: split on Unicode white space (strings.Fields), trim leading
 * and trailing Unicode punctuation (unicode.IsPunct), lowercase
 * (strings.ToLower, which turns invalid UTF-8 bytes into U+FFFD), drop empty
 * words. The Unicode tables come from Go's unicode package (gentables.go), so
 * non-ASCII text counts as in Go too, for the Unicode version they were
 * generated from.
 */
#include "wasmnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wordcount_tables.h"

#define RUNE_ERROR 0xFFFD

/* decode_rune is Go's utf8.DecodeRune: invalid input gives (RUNE_ERROR, 1). */
static uint32_t decode_rune(const uint8_t *p, size_t n, size_t *size)
{
	*size = 1;
	if (n == 0)
		return RUNE_ERROR;
	uint8_t b0 = p[0];
	if (b0 < 0x80)
		return b0;
	size_t need;
	uint8_t lo = 0x80, hi = 0xBF;
	uint32_t r;
	if (b0 >= 0xC2 && b0 <= 0xDF) {
		need = 2;
		r = b0 & 0x1F;
	} else if (b0 >= 0xE0 && b0 <= 0xEF) {
		need = 3;
		r = b0 & 0x0F;
		if (b0 == 0xE0)
			lo = 0xA0;
		else if (b0 == 0xED)
			hi = 0x9F;
	} else if (b0 >= 0xF0 && b0 <= 0xF4) {
		need = 4;
		r = b0 & 0x07;
		if (b0 == 0xF0)
			lo = 0x90;
		else if (b0 == 0xF4)
			hi = 0x8F;
	} else
		return RUNE_ERROR;
	if (n < need || p[1] < lo || p[1] > hi)
		return RUNE_ERROR;
	r = r << 6 | (p[1] & 0x3F);
	for (size_t i = 2; i < need; i++) {
		if (p[i] < 0x80 || p[i] > 0xBF)
			return RUNE_ERROR;
		r = r << 6 | (p[i] & 0x3F);
	}
	*size = need;
	return r;
}

/* decode_last_rune is Go's utf8.DecodeLastRune. */
static uint32_t decode_last_rune(const uint8_t *p, size_t end, size_t *size)
{
	*size = 1;
	if (end == 0)
		return RUNE_ERROR;
	if (p[end - 1] < 0x80)
		return p[end - 1];
	size_t lim = end >= 4 ? end - 4 : 0;
	size_t start = end - 1;
	while (start > lim && (p[start] & 0xC0) == 0x80)
		start--;
	size_t sz;
	uint32_t r = decode_rune(p + start, end - start, &sz);
	if (start + sz != end)
		return RUNE_ERROR;
	*size = sz;
	return r;
}

/* is_space is Go's unicode.IsSpace. */
static int is_space(uint32_t r)
{
	switch (r) {
	case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
	case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
	case 0x202F: case 0x205F: case 0x3000:
		return 1;
	}
	return r >= 0x2000 && r <= 0x200A;
}

static int is_punct(uint32_t r)
{
	for (size_t i = 0; i < sizeof wc_punct / sizeof wc_punct[0]; i++) {
		if (r < wc_punct[i].lo)
			return 0;
		if (r <= wc_punct[i].hi)
			return 1;
	}
	return 0;
}

static uint32_t to_lower(uint32_t r)
{
	if (r < 0x80)
		return r >= 'A' && r <= 'Z' ? r + 32 : r;
	uint32_t out = r;
	for (size_t i = 0; i < sizeof wc_lower / sizeof wc_lower[0]; i++) {
		const struct wc_range *x = &wc_lower[i];
		if (r >= x->lo && r <= x->hi && (r - x->lo) % x->stride == 0)
			out = (uint32_t)((int32_t)r + x->delta);
	}
	return out;
}

static size_t encode_rune(uint8_t *p, uint32_t r)
{
	if (r < 0x80) {
		p[0] = (uint8_t)r;
		return 1;
	}
	if (r < 0x800) {
		p[0] = (uint8_t)(0xC0 | r >> 6);
		p[1] = (uint8_t)(0x80 | (r & 0x3F));
		return 2;
	}
	if (r < 0x10000) {
		p[0] = (uint8_t)(0xE0 | r >> 12);
		p[1] = (uint8_t)(0x80 | (r >> 6 & 0x3F));
		p[2] = (uint8_t)(0x80 | (r & 0x3F));
		return 3;
	}
	p[0] = (uint8_t)(0xF0 | r >> 18);
	p[1] = (uint8_t)(0x80 | (r >> 12 & 0x3F));
	p[2] = (uint8_t)(0x80 | (r >> 6 & 0x3F));
	p[3] = (uint8_t)(0x80 | (r & 0x3F));
	return 4;
}

/* ---- counts: an open-addressing hash table of words -------------------- */

struct entry {
	char *word; /* NULL: empty slot */
	size_t len;
	int64_t count;
};

static struct entry *table;
static size_t table_cap, table_len;

static uint64_t hash(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static void oom(void)
{
	fputs("wordcount: out of memory\n", stderr);
	abort();
}

static void table_insert(struct entry *t, size_t cap, struct entry e)
{
	size_t i = hash((const uint8_t *)e.word, e.len) & (cap - 1);
	while (t[i].word)
		i = (i + 1) & (cap - 1);
	t[i] = e;
}

static void add_word(const uint8_t *w, size_t n)
{
	if (2 * (table_len + 1) > table_cap) {
		size_t cap = table_cap ? 2 * table_cap : 1024;
		struct entry *t = calloc(cap, sizeof *t);
		if (!t)
			oom();
		for (size_t i = 0; i < table_cap; i++)
			if (table[i].word)
				table_insert(t, cap, table[i]);
		free(table);
		table = t;
		table_cap = cap;
	}
	size_t i = hash(w, n) & (table_cap - 1);
	for (; table[i].word; i = (i + 1) & (table_cap - 1)) {
		if (table[i].len == n && memcmp(table[i].word, w, n) == 0) {
			table[i].count++;
			return;
		}
	}
	char *copy = malloc(n ? n : 1);
	if (!copy)
		oom();
	memcpy(copy, w, n);
	table[i] = (struct entry){copy, n, 1};
	table_len++;
}

/* ---- the rule ----------------------------------------------------------- */

static uint8_t *lowbuf;
static size_t lowcap;

/* count_word trims, lowercases and counts one white-space-separated field. */
static void count_word(const uint8_t *f, size_t n)
{
	size_t size;
	while (n > 0 && is_punct(decode_rune(f, n, &size))) {
		f += size;
		n -= size;
	}
	while (n > 0 && is_punct(decode_last_rune(f, n, &size)))
		n -= size;
	if (n == 0)
		return;
	/* strings.ToLower: ASCII stays ASCII; invalid bytes become U+FFFD (3 bytes) */
	if (3 * n > lowcap) {
		lowcap = 3 * n;
		lowbuf = realloc(lowbuf, lowcap);
		if (!lowbuf)
			oom();
	}
	size_t out = 0;
	for (size_t i = 0; i < n;) {
		uint32_t r = decode_rune(f + i, n - i, &size);
		out += encode_rune(lowbuf + out, to_lower(r));
		i += size;
	}
	add_word(lowbuf, out);
}

/* count is wordcount.Count. */
static void count(const uint8_t *text, size_t n)
{
	size_t i = 0, start = 0, size;
	int in_field = 0;
	while (i < n) {
		uint32_t r = decode_rune(text + i, n - i, &size);
		if (is_space(r)) {
			if (in_field)
				count_word(text + start, i - start);
			in_field = 0;
		} else if (!in_field) {
			in_field = 1;
			start = i;
		}
		i += size;
	}
	if (in_field)
		count_word(text + start, n - start);
}

/* complete is wordcount.Complete: the length of the prefix that ends with a
 * white-space rune. */
static size_t complete(const uint8_t *text, size_t n)
{
	for (size_t end = n, size; end > 0; end -= size) {
		if (is_space(decode_last_rune(text, end, &size)))
			return end;
	}
	return 0;
}

static const char *type_name(wasmnet_type t)
{
	static const char *names[] = {"nil", "bool", "int", "int", "float32", "float64",
	                              "str", "bin", "array", "map", "channel", "ext"};
	return names[t];
}

static int fail(wasmnet_chan ch, const char *what, int rc)
{
	char msg[200];
	snprintf(msg, sizeof msg, "wordcount: %s: %s", what, wasmnet_strerror(rc));
	fprintf(stderr, "%s\n", msg);
	wasmnet_close_error(ch, msg);
	return 1;
}

int main(void)
{
	wasmnet_chan ch = wasmnet_main();
	wasmnet_buf b = {0};
	uint8_t *pending = NULL;
	size_t plen = 0, pcap = 0;
	for (;;) {
		int rc = wasmnet_receive(ch, &b, WASMNET_FOREVER);
		if (rc == WASMNET_ECLOSED)
			break;
		if (rc == WASMNET_EREMOTE)
			return fail(ch, (const char *)b.data, rc);
		if (rc)
			return fail(ch, "receive", rc);
		wasmnet_reader r;
		wasmnet_item it;
		wasmnet_reader_init(&r, b.data, b.len);
		if ((rc = wasmnet_read(&r, &it)))
			return fail(ch, "decode", rc);
		if (it.type == WASMNET_NIL)
			break;
		if (it.type != WASMNET_STR && it.type != WASMNET_BIN) {
			char msg[100];
			snprintf(msg, sizeof msg, "wordcount: item of type %s, want a string or bytes", type_name(it.type));
			wasmnet_close_error(ch, msg);
			return 0;
		}
		if (plen + it.len > pcap) {
			pcap = 2 * (plen + it.len);
			pending = realloc(pending, pcap);
			if (!pending)
				oom();
		}
		memcpy(pending + plen, it.data, it.len);
		plen += it.len;
		size_t n = complete(pending, plen);
		count(pending, n);
		memmove(pending, pending + n, plen - n);
		plen -= n;
	}
	count(pending, plen);

	wasmnet_writer w = {0};
	wasmnet_write_map(&w, (uint32_t)table_len);
	for (size_t i = 0; i < table_cap; i++) {
		if (table[i].word) {
			wasmnet_write_str(&w, table[i].word, table[i].len);
			wasmnet_write_int(&w, table[i].count);
		}
	}
	int rc = wasmnet_send_writer(ch, &w);
	/* After the client closed the channel the send fails with ECLOSED: the
	 * client asked for no answer. */
	if (rc && rc != WASMNET_ECLOSED)
		return fail(ch, "send", rc);
	return 0;
}
