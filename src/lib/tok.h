/* tok.h: count tokens as a model's own tokenizer does (Hugging Face tokenizer.json) */
#ifndef IP_TOK_H
#define IP_TOK_H

#include <stddef.h>
#include <stdint.h>

/*
 * A tokenizer loaded from a Hugging Face tokenizer.json: a BPE model,
 * byte-level (Llama 3, Qwen, DeepSeek, gpt-oss) or SentencePiece-style
 * with byte fallback (Llama 2, Mistral). docs/tokens.md says what is
 * supported and how a text is counted.
 *
 * Counting is the encoding of the text alone: no BOS/EOS, no chat
 * template; special and added tokens written in the text are recognised
 * as the model's tokenizer recognises them. A byte that is not part of
 * valid UTF-8 counts as one token and splits the text around it.
 *
 * A struct tok keeps scratch buffers and a small word cache: counting
 * allocates nothing per token (only when a longer text than any before
 * arrives), and one struct tok must not be used by two threads at once.
 */
struct tok;

/*
 * Load path, a tokenizer.json. Returns NULL with a message naming the
 * file and what is wrong in err (errlen bytes). Heap-owned: tok_free().
 */
struct tok	*tok_load(const char *path, char *err, size_t errlen);

/*
 * Load family NAME from dir: dir/NAME/tokenizer.json. NAME is letters,
 * digits, '.', '_' and '-' and does not start with '.'. As tok_load.
 */
struct tok	*tok_load_family(const char *dir, const char *name, char *err,
		    size_t errlen);

/* Is name a family name tok_load_family takes? 1 or 0. */
int		 tok_family_ok(const char *name);

void		 tok_free(struct tok *);

/* The number of tokens buf (len bytes, any bytes) encodes to. */
size_t		 tok_count(struct tok *, const char *buf, size_t len);

/*
 * The token ids of buf, as tok_count counts them, in *ids (heap-owned,
 * free() it; NULL when *n is 0) and their number in *n.
 */
void		 tok_encode(struct tok *, const char *buf, size_t len,
		    int32_t **ids, size_t *n);

/* The id of token text (an added or special token, or a vocabulary
 * entry as the file spells it), or -1. */
int32_t		 tok_token_id(const struct tok *, const char *text);

/* "byte-level BPE" or "SentencePiece BPE", for messages. */
const char	*tok_kind(const struct tok *);

#endif
