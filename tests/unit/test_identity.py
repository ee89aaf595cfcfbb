"""Identity documents: normalisation, the GB 11643 resident-ID checksum, masking.

The check character is computed here independently of the product code, from the
standard's weights and its 0..10 -> "10X98765432" mapping.
"""
from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from integration.identity import IdentityDocument, mask, normalise, resident_id_check_char

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"


def check_char(body17: str) -> str:
    assert len(body17) == 17 and body17.isascii() and body17.isdigit()
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(body17, WEIGHTS)) % 11]


def valid_id(body17: str) -> str:
    return body17 + check_char(body17)


# Published examples (GB 11643 sample numbers) and bodies chosen to hit X and 0.
KNOWN_VALID = ["11010519491231002X", "440524188001010014", "11010119900307803X"]


# --- the independent oracle agrees with the standard's published examples ---------------

@pytest.mark.parametrize("number", KNOWN_VALID)
def test_reference_check_char_matches_published_examples(number):
    assert check_char(number[:17]) == number[17]


def test_reference_check_char_covers_every_result():
    """Bodies whose weighted sum mod 11 is 0..10 map to 1,0,X,9,...,2."""
    seen = {}
    for n in range(2000):
        body = f"{110105}{19800101 + n:08d}{n % 1000:03d}"[:17]
        total = sum(int(d) * w for d, w in zip(body, WEIGHTS)) % 11
        seen.setdefault(total, check_char(body))
    assert seen == {i: CHECK_CHARS[i] for i in range(11)}


# --- valid 18-character IDs --------------------------------------------------------------

@pytest.mark.parametrize("number", KNOWN_VALID + [valid_id("11010519800101001"),
                                                  valid_id("31011519851231123")])
def test_valid_resident_id_is_valid_and_unchanged(number):
    doc = normalise("RESIDENT_ID", number)

    assert doc == IdentityDocument("RESIDENT_ID", number, valid=True, warning=None)
    assert doc.key == f"RESIDENT_ID:{number}"


def test_product_check_char_matches_the_reference():
    for number in KNOWN_VALID:
        assert resident_id_check_char(number[:17]) == check_char(number[:17])


def test_lowercase_x_is_normalised_to_uppercase():
    doc = normalise("RESIDENT_ID", "11010519491231002x")

    assert (doc.number, doc.valid, doc.warning) == ("11010519491231002X", True, None)
    assert doc.key == normalise("RESIDENT_ID", "11010519491231002X").key


@pytest.mark.parametrize("written", [
    " 11010519491231002X ", "110105 19491231 002X", "110105-19491231-002X",
    "110105\t1949\n1231 - 002x", "1101-0519-4912-3100-2X", "\u3000110105194912310 02X",
])
def test_spaces_and_hyphens_are_stripped(written):
    doc = normalise("RESIDENT_ID", written)

    assert (doc.number, doc.valid) == ("11010519491231002X", True)


# --- first-generation (15-digit) IDs -----------------------------------------------------

@pytest.mark.parametrize("old,new", [
    ("110105491231002", "11010519491231002X"),
    ("440524800101001", valid_id("44052419800101001")),
    ("310115851231123", valid_id("31011519851231123")),
])
def test_15_digit_id_is_converted_to_18_digits(old, new):
    doc = normalise("RESIDENT_ID", old)

    assert (doc.number, doc.valid, doc.warning) == (new, True, None)
    assert doc.number[6:8] == "19"
    assert doc.key == normalise("RESIDENT_ID", new).key  # same person, same merge key


def test_15_digit_id_with_separators_is_converted():
    assert normalise("RESIDENT_ID", "110105-491231-002").number == "11010519491231002X"


# --- invalid resident IDs ----------------------------------------------------------------

@pytest.mark.parametrize("number", ["110105194912310021", "11010519491231003X",
                                    "440524188001010015", "11010519491231002X"[:-1] + "0"])
def test_bad_checksum_is_invalid_with_a_masked_warning(number):
    doc = normalise("RESIDENT_ID", number)

    assert doc.valid is False
    assert doc.key is None
    assert doc.number == number  # kept, for people to look at
    assert doc.warning is not None and "checksum" in doc.warning
    assert number not in doc.warning
    assert mask(number) in doc.warning
    assert number[3:14] not in doc.warning


def test_bad_checksum_warning_masks_the_number_exactly():
    doc = normalise("RESIDENT_ID", "110105194912310021")

    assert doc.warning is not None
    assert "110***********0021" in doc.warning


@pytest.mark.parametrize("number", [
    "1101051949123100",        # 16
    "11010519491231002",       # 17
    "11010519491231002X1",     # 19
    "110105491231",            # 12
    "1101054912310X",          # 14
    "11010549123100X",         # 15, not all digits
    "11010519491231A02X",      # letter in the body
    "X1010519491231002X",
    "1101051949123100XX",
    "11010519491231002Z",
])
def test_wrong_length_or_characters_is_invalid_with_a_masked_warning(number):
    doc = normalise("RESIDENT_ID", number)

    assert doc.valid is False and doc.key is None
    assert doc.warning is not None
    assert number.upper() not in doc.warning
    assert mask(number.upper()) in doc.warning


def test_empty_resident_id_is_invalid():
    doc = normalise("RESIDENT_ID", "  ")

    assert doc.valid is False and doc.key is None
    assert doc.warning is not None


# --- other document types ----------------------------------------------------------------

@pytest.mark.parametrize("doc_type,written,number", [
    ("PASSPORT", " e123-456 78 ", "E12345678"),
    ("HK_MACAO_PERMIT", "h1234 5678", "H12345678"),
    ("TAIWAN_PERMIT", "0012-3456", "00123456"),
    ("OTHER", "abc-def", "ABCDEF"),
    # an 18-digit number that fails the resident checksum is fine for another type
    ("PASSPORT", "110105194912310021", "110105194912310021"),
    ("OTHER", "110105491231002", "110105491231002"),  # not expanded: not a resident ID
])
def test_other_document_types_are_normalised_but_not_checksum_checked(doc_type, written,
                                                                      number):
    doc = normalise(doc_type, written)

    assert doc == IdentityDocument(doc_type, number, valid=True, warning=None)
    assert doc.key == f"{doc_type}:{number}"


def test_other_document_with_nothing_left_is_not_a_merge_key():
    doc = normalise("PASSPORT", " - ")

    assert (doc.number, doc.valid, doc.key) == ("", False, None)


def test_same_number_of_different_types_gives_different_keys():
    a, b = normalise("PASSPORT", "E12345678"), normalise("OTHER", "E12345678")

    assert a.key != b.key


# --- mask --------------------------------------------------------------------------------

@pytest.mark.parametrize("number,masked", [
    ("110105194912310011", "110***********0011"),
    ("11010519491231002X", "110***********002X"),
    ("110105491231002", "110********1002"),
    ("E12345678", "E12**5678"),
    ("12345678", "123*5678"),
    ("1234567", "*******"),
    ("123", "***"),
    ("", ""),
])
def test_mask(number, masked):
    assert mask(number) == masked
    assert len(mask(number)) == len(number)


# --- properties --------------------------------------------------------------------------

bodies = st.text(alphabet="0123456789", min_size=17, max_size=17)


@settings(max_examples=300, database=None, deadline=None)
@given(body=bodies)
def test_any_body_with_its_check_char_is_valid(body):
    number = body + check_char(body)

    doc = normalise("RESIDENT_ID", number)

    assert (doc.number, doc.valid, doc.warning) == (number, True, None)
    assert resident_id_check_char(body) == check_char(body)


@settings(max_examples=500, database=None, deadline=None)
@given(body=bodies, position=st.integers(0, 17), replacement=st.sampled_from(CHECK_CHARS))
def test_changing_any_single_character_makes_it_invalid(body, position, replacement):
    number = body + check_char(body)
    if position < 17:
        assume(replacement.isdigit())  # a body holds digits only
    assume(replacement != number[position])
    changed = number[:position] + replacement + number[position + 1:]

    doc = normalise("RESIDENT_ID", changed)

    assert doc.valid is False and doc.key is None
    assert doc.warning is not None and changed not in doc.warning


@settings(max_examples=200, database=None, deadline=None)
@given(body=st.text(alphabet="0123456789", min_size=15, max_size=15))
def test_any_15_digit_id_becomes_a_valid_18_digit_id(body):
    doc = normalise("RESIDENT_ID", body)

    assert doc.valid is True
    assert doc.number == valid_id(body[:6] + "19" + body[6:])


@settings(max_examples=300, database=None, deadline=None)
@given(doc_type=st.sampled_from(["RESIDENT_ID", "PASSPORT", "OTHER"]),
       number=st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_normalise_never_raises_on_ascii_text(doc_type, number):
    doc = normalise(doc_type, number)

    assert isinstance(doc.valid, bool)
    assert " " not in doc.number and "-" not in doc.number
    assert doc.number == doc.number.upper()


@settings(max_examples=300, database=None, deadline=None)
@given(number=st.text(alphabet="0123456789Xx -", min_size=8, max_size=40))
def test_invalid_resident_id_warning_never_shows_the_whole_number(number):
    doc = normalise("RESIDENT_ID", number)

    if not doc.valid:
        assert doc.warning is not None
        if len(doc.number) > 7:
            assert doc.number not in doc.warning
            assert mask(doc.number) in doc.warning


@pytest.mark.parametrize("number", ["1101051949123100²X", "¹¹⁰¹⁰⁵⁴⁹¹²³¹⁰⁰²"])
def test_unicode_digit_lookalikes_do_not_raise(number):
    doc = normalise("RESIDENT_ID", number)

    assert doc.valid is False and doc.key is None


def test_full_width_digits_are_normalised_or_refused():
    full_width = "１１０１０５１９４９１２３１００２X"
    doc = normalise("RESIDENT_ID", full_width)

    assert doc.key is None or doc.key == normalise("RESIDENT_ID", "11010519491231002X").key
