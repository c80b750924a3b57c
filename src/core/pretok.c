/*
** pretok.c — the pre-tokenizers of byte-level BPE: they cut text into the
** words that BPE then merges within. Each is one of the regexes of the
** model's tokenizer.json, here as a hand-written scanner over code points
** that follows llama.cpp's own scanners (unicode.cpp) case by case:
**
**   GPT-2:  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
**   Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
**            ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
**   Qwen2:  the same with \p{N} for \p{N}{1,3}
**
** The character classes come from unicode_tab.c (see tools/gen_unicode.py).
*/
#include "tok.h"

#define NONE         0xFFu /* the class of a position past the end */
#define OUT_OF_RANGE 0xFFFFFFFFu

uint32_t l4lm_uni_class(uint32_t cp)
{
    if (cp < 0x80) { /* the common case, without the search */
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            return L4LM_UNI_LETTER;
        if (cp >= '0' && cp <= '9')
            return L4LM_UNI_NUMBER;
        return cp == ' ' || (cp >= 9 && cp <= 13) ? L4LM_UNI_SPACE : L4LM_UNI_OTHER;
    }
    uint32_t lo = 0, hi = l4lm_uni_n_ranges, key = cp << 2 | 3;
    while (hi - lo > 1) { /* the last range starting at or before cp */
        uint32_t mid = lo + (hi - lo) / 2;
        if (l4lm_uni_ranges[mid] <= key)
            lo = mid;
        else
            hi = mid;
    }
    return l4lm_uni_ranges[lo] & 3;
}

static uint32_t uni_lower(uint32_t cp)
{
    for (uint32_t i = 0; i < l4lm_uni_n_lower; i++)
        if (l4lm_uni_lower[i][0] == cp)
            return l4lm_uni_lower[i][1];
    return cp;
}

/*
** As llama.cpp decodes: the lead byte says the length, continuation bytes
** are checked, overlong forms and surrogates pass through; anything else is
** one U+FFFD per bad byte. Code points above U+10FFFF (which llama.cpp
** cannot encode again and throws on) are U+FFFD here as well.
*/
uint32_t l4lm_utf8_decode(const uint8_t *s, size_t n, uint32_t *cps)
{
    uint32_t count = 0;
    for (size_t i = 0; i < n; count++) {
        uint8_t b = s[i];
        uint32_t k = b < 0x80          ? 1
                     : (b & 0x40) == 0 ? 0
                     : (b & 0x20) == 0 ? 2
                     : (b & 0x10) == 0 ? 3
                     : (b & 0x08) == 0 ? 4
                                       : 0;
        uint32_t cp = k == 1 ? b : (uint32_t)b & (0x7Fu >> k);
        bool ok = k && n - i >= k;
        for (uint32_t j = 1; ok && j < k; j++) {
            ok = (s[i + j] & 0xC0) == 0x80;
            cp = cp << 6 | (s[i + j] & 0x3Fu);
        }
        if (!ok || cp > 0x10FFFF) {
            cps[count] = 0xFFFD;
            i++;
        } else {
            cps[count] = cp;
            i += k;
        }
    }
    return count;
}

uint32_t l4lm_utf8_encode(uint32_t cp, uint8_t *out)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- the scanners ---- */

typedef struct scan {
    const uint32_t *cp;
    uint32_t n;
} scan;

static uint32_t at(const scan *s, uint32_t i)
{
    return i < s->n ? s->cp[i] : OUT_OF_RANGE;
}

static uint32_t cls(const scan *s, uint32_t i)
{
    return i < s->n ? l4lm_uni_class(s->cp[i]) : NONE;
}

static bool is_rn(uint32_t c)
{
    return c == '\r' || c == '\n';
}

/* 's 't 'm 'd 're 've 'll: the length matched at pos, or 0. fold: any case. */
static uint32_t contraction(const scan *s, uint32_t pos, bool fold)
{
    if (at(s, pos) != '\'' || pos + 1 >= s->n)
        return 0;
    uint32_t a = at(s, pos + 1), b = pos + 2 < s->n ? at(s, pos + 2) : 0;
    if (fold) {
        a = uni_lower(a);
        b = uni_lower(b);
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    return (a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l') ? 3 : 0;
}

/* \s*[\r\n]+ (when rn), then \s+(?!\S), then \s+; else a lone character. */
static uint32_t spaces(const scan *s, uint32_t pos, bool rn)
{
    uint32_t k = 0, after_rn = 0;
    for (; cls(s, pos + k) == L4LM_UNI_SPACE; k++)
        if (rn && is_rn(at(s, pos + k)))
            after_rn = pos + k + 1;
    if (after_rn)
        return after_rn;
    if (k > 1 && pos + k < s->n) /* leave the last space to the word after it */
        return pos + k - 1;
    return pos + (k ? k : 1);
}

static uint32_t gpt2_next(const scan *s, uint32_t pos)
{
    uint32_t k = contraction(s, pos, false);
    if (k)
        return pos + k;
    bool sp = at(s, pos) == ' ';
    uint32_t c = cls(s, pos + sp);
    if (c == L4LM_UNI_LETTER || c == L4LM_UNI_NUMBER || c == L4LM_UNI_OTHER) {
        pos += sp; /* ' ?' then a run of one class */
        while (cls(s, pos) == c)
            pos++;
        return pos;
    }
    return spaces(s, pos, false);
}

static uint32_t llama3_next(const scan *s, uint32_t pos, uint32_t max_digits)
{
    uint32_t k = contraction(s, pos, true);
    if (k)
        return pos + k;
    uint32_t cp = at(s, pos), c = cls(s, pos);
    if (!is_rn(cp) && c != L4LM_UNI_NUMBER &&
        (c == L4LM_UNI_LETTER || cls(s, pos + 1) == L4LM_UNI_LETTER)) {
        for (pos++; cls(s, pos) == L4LM_UNI_LETTER;)
            pos++;
        return pos;
    }
    if (c == L4LM_UNI_NUMBER) {
        uint32_t end = pos + 1;
        while (end - pos < max_digits && cls(s, end) == L4LM_UNI_NUMBER)
            end++;
        return end;
    }
    bool sp = cp == ' ';
    uint32_t c2 = cls(s, pos + sp);
    if (c2 == L4LM_UNI_OTHER || c2 == NONE) { /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
        for (pos += sp; cls(s, pos) == L4LM_UNI_OTHER;)
            pos++;
        while (is_rn(at(s, pos)))
            pos++;
        return pos;
    }
    return spaces(s, pos, true);
}

uint32_t l4lm_pretok_next(l4lm_pretok pre, const uint32_t *cps, uint32_t n, uint32_t pos)
{
    scan s = {cps, n};
    if (pre == L4LM_PRE_GPT2)
        return gpt2_next(&s, pos);
    return llama3_next(&s, pos, pre == L4LM_PRE_LLAMA3 ? 3 : 1);
}
