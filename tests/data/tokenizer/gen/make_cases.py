#!/usr/bin/env python3
"""Test texts for golden_extra.jsonl / golden_large.jsonl (deterministic). The ids come from the
reference encoder: python3 make_cases.py extra | node encode.mjs tokenizer.json > ../golden_extra.jsonl
(see ../README.md)."""
import json
import random
import sys

FIXED = {
    "latin": ["Ça va? Voilà, l'été à Zürich — naïve façade, Ångström, œuvre, Øresund, Łódź, Ślęża.",
              "Iñtërnâtiônàlizætiøn", "ß ẞ ǅ ǈ ǋ ǲ ĳ ﬁ ﬂ ﬀ", "Straße über Öl; Æsir; Þórr; ð"],
    "cyrillic": ["Привет, мир! Съешь же ещё этих мягких французских булок.", "Ёжик в тумане, Київ, Беларусь, Србија"],
    "greek": ["Καλημέρα κόσμε· ΑΒΓΔ αβγδ ϐϑϕ", "Ἀρχὴ ἥμισυ παντός"],
    "cjk": ["我能吞下玻璃而不伤身体。", "漢字𠀋𡈽𤭢 and 𪚲𫝀 (Ext B-E)", "龦龧龻鿋鿿 beyond U+9FA5 〇〻々",
            "中文English混合123测试", "日本語のテキスト、カタカナ、ひらがな。ｶﾀｶﾅ半角", "ㄅㄆㄇ 注音 ㄱㄴ"],
    "hangul": ["안녕하세요 세계! 한국어 텍스트입니다.", "ᄀᄁᄂ ᅡᅢ 자모 ㅋㅋㅋ"],
    "thai": ["สวัสดีครับ ภาษาไทยไม่มีช่องว่าง", "ก่อนหน้านี้"],
    "indic": ["नमस्ते दुनिया, हिन्दी", "ক্ষমা করবেন বাংলা", "தமிழ் மொழி", "ಕನ್ನಡ తెలుగు മലയാളം ગુજરાતી ਪੰਜਾਬੀ"],
    "rtl": ["مرحبا بالعالم، العربية ١٢٣٤٥", "שלום עולם! עברית 2024", "فارسی ۱۲۳۴", "mixed עברית and English"],
    "other": ["Ethiopic ሰላም", "Georgian გამარჯობა", "Armenian Բարեւ", "Tibetan བོད་ཡིག", "Mongolian ᠮᠣᠩᠭᠣᠯ", "Cherokee ᏣᎳᎩ",
              "Myanmar မြန်မာ", "Khmer ខ្មែរ", "Lao ລາວ", "Sinhala සිංහල", "Syriac ܫܠܡܐ", "N'Ko ߒߞߏ"],
    "emoji": ["👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇫🇷🇯🇵 ❤️‍🔥", "I ❤️ 🍕!!! 😂😂😂", "🫨🩷🪿🫎 new emoji", "👩🏿‍💻 🧑‍🚀 ⌚⌛", "🙂‍↔️🙂‍↕️ 🐦‍🔥 🍋‍🟩",
              "emoji🙂in🙂words", "#️⃣ *️⃣ 1️⃣ ©️ ®️ ™️"],
    "combining": ["é = e\u0301, n\u0303, a\u0308\u0304", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇", "\u0301start with a mark", "x\u20dd \u0915\u094d\u0937"],
    "whitespace": ["a  b   c    d", "\t\ttabs\tand\t\tmore", "line1\r\nline2\r\n\r\nline3", "trailing   ", "   leading",
                   "nbsp\u00a0here\u00a0\u00a0two", "thin\u2009space\u202fnarrow", "ideo\u3000space\u3000\u3000",
                   "nel\u0085x\u0085\u0085y", "mongolian\u180evowel\u180e sep", "bom\ufeffin\ufeff middle", "\ufeffstart",
                   "line\u2028sep\u2029para", "\n\n\n", " \n \n ", "\r\r\n\n\r", "\u000b\u000c vt ff", "   \n   \n\t\n",
                   "x \u00a0\u00a0 y", "end with newline\n", "\u200b zero\u200bwidth \u200c\u200d", "ogham\u1680space"],
    "numbers": ["1234567890", "3.14159 2,718 1e-10 0x1F 0b1010", "x² y³ ½ ¾ ⅞", "Ⅻ Ⅳ ⅷ ① ⑳ ⓵", "١٢٣ ۱۲۳ ४५६ ๑๒๓", "１２３ full width",
                "12345678901234567890", "-42 +7 007 1,000,000.00", "𝟙𝟚𝟛 𝟘", "v1.2.3-rc.4", "2024-01-15T10:30:00Z"],
    "code": ["def f(x):\n    return x**2  # square\n", "int main() {\n\tprintf(\"hi\\n\");\n\treturn 0;\n}\n",
             "const x = a?.b ?? c; // ok\nlet y = `t${x}`;", "<div class=\"a\">&nbsp;</div>\n<br/>",
             "SELECT * FROM t WHERE id >= 10 AND name LIKE '%x%';", "if (a && b || !c) { x += 1; }",
             "#include <vector>\nstd::vector<int> v{1,2,3};", "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
             "    indented\n        more\n\tmixed", "λx. x + 1 ∀x∃y: x≠y ⇒ ∑ᵢ xᵢ² ≤ ∞", "$ ls -la | grep '^d' > out.txt 2>&1",
             "a==b!=c<=d>=e=>f->g::h", "__init__ __main__ _private", "foo.bar.baz()[0]['key']", "))))]]]]}}}};;;;\n\n"],
    "urls": ["https://example.com/path?q=1&r=two#frag", "mailto:someone@example.org", "www.测试.中国/路径", "ftp://x.y:21/a%20b"],
    "json": ["{\"a\": 1, \"b\": [true, false, null], \"c\": {\"d\": \"é\"}}", "[{\"k\":\"v\"},{\"k\":\"w\"}]\n",
             "{\"emoji\": \"😀\", \"esc\": \"\\n\\t\\\\\"}"],
    "special": ["<｜begin▁of▁sentence｜>Hello", "a<｜User｜>b<｜Assistant｜>c", "<|EOT|><|EOT|>", "x<｜end▁of▁sentence｜>",
                "<｜User｜", "｜User｜>", "<<｜User｜>>", "<think>reasoning</think>answer", "<｜fim▁hole｜><｜fim▁begin｜>code<｜fim▁end｜>",
                "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f", "word<｜place▁holder▁no▁5｜>word",
                "<｜▁pad▁｜>", "<｜begin▁of▁sentence｜><｜begin▁of▁sentence｜>", " <｜User｜> spaced ", "\n<｜Assistant｜>\n",
                "<｜DSML｜tool_calls>", "｜DSML｜", "<｜latest_reminder｜>", "<｜User｜>日本語<｜Assistant｜>"],
    "punct": ["Hello!!!\n\n", "wait...\nwhat?!\n", "“quotes” ‘single’ «guillemets» „low“", "— – - ‐ ‒", "•·…‰′″",
              "!!!???...,,,", "a,b;c:d", "(parenthetical) [bracket] {brace}", "¿Qué? ¡Sí!", "§1 ¶2 †‡",
              "💯%", "@user #tag $5 €5 £5 ¥5 ₹5 ₿", "a/b\\c|d", "''\"\"``", ".\n.\n.\n"],
    "private": ["\ue000\ue001 private use", "\U000f0000 plane 15", "\U0010fffd end", "\U0001d400\U0001d401 math bold",
                "\U0001f600 and \U0001f9ff", "unassigned \U0003ffff \U000e0001 tag", "\u0378\u0379 unassigned bmp",
                "newer letters \U0001e5d0\U0001e5d1 \U00011380", "cjk ext I \U0002ebf0\U0002ebf1", "\U00031350 ext H"],
    "long": ["a" * 300, "ab" * 200, "的" * 100, "😀" * 50, " " * 100, "\n" * 50, "1" * 100, "-" * 80,
             "pneumonoultramicroscopicsilicovolcanoconiosis", "Donaudampfschifffahrtsgesellschaftskapitän",
             "x" * 50 + " " * 50 + "y" * 50],
}

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
POOLS = [
    LETTERS, "0123456789", " \t\n\r", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "éèêëàâäôöûüçñßøåæœ", "абвгдежзийклмнопрстуфхцчшщъыьэюя", "αβγδεζηθικλμνξοπρστυφχψω",
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年", "あいうえおかきくけこアイウエオカキクケコー", "가나다라마바사아자차카타파하",
    "\u00a0\u2009\u3000\u0085\u180e\ufeff\u200b\u2028", "\u0301\u0308\u0303\u20dd\u094d", "²½Ⅻ①١۲४๓", "😀👍🏽❤️‍🔥🇫🇷✨🫨",
    "ąęśćżźłńóĄĘŚĆŻŹŁŃÓ", "กขคงจฉชซ", "अआइईउऊएऐओऔकखग", "ابتثجحخدذرزسشصضطظعغفقكلمنهوي", "אבגדהוזחטיכלמנסעפצקרשת",
    "<>｜▁", "龦鿋鿿〇𠀋𪚲", "\U0001e5d0\U00011380\U0002ebf0\U0001fa77",
]
SPECIALS = ["<｜User｜>", "<｜Assistant｜>", "<｜begin▁of▁sentence｜>", "<|EOT|>", "<think>", "<｜end▁of▁sentence｜>"]


def random_text(rng, length):
    out = []
    while len(out) < length:
        r = rng.random()
        if r < 0.02:
            out.append(rng.choice(SPECIALS))
        elif r < 0.06:
            cp = rng.randrange(0x20, 0x30000)
            if not 0xD800 <= cp <= 0xDFFF:
                out.append(chr(cp))
        else:
            pool = rng.choice(POOLS)
            out.extend(rng.choice(pool) for _ in range(rng.randint(1, 8)))
    return "".join(out)


def words_text(rng, n):
    words = ["the", "of", "and", "to", "in", "is", "that", "for", "it", "with", "as", "was", "on", "be", "at", "by",
             "this", "have", "from", "or", "but", "not", "are", "an", "they", "which", "you", "one", "were", "all",
             "données", "été", "niño", "Größe", "мир", "город", "κόσμος", "世界", "我们", "日本", "東京", "한국", "서울",
             "ไทย", "भारत", "مرحبا", "שלום", "😀", "🎉", "2024", "3.14", "42", "x=1;", "f(x)", "\n", "\n\n", "  ", "\t"]
    seps = [" ", " ", " ", ", ", ". ", "\n", "", "  ", "-", "/", "_"]
    return "".join(rng.choice(words) + rng.choice(seps) for _ in range(n))


def emit(rows):
    for case_id, text in rows:
        print(json.dumps({"id": case_id, "text": text}, ensure_ascii=False))


def main():
    rng = random.Random(4)
    kind = sys.argv[1]
    if kind == "extra":
        rows = [(f"{cat}-{i:03d}", t) for cat, texts in FIXED.items() for i, t in enumerate(texts, 1)]
        rows += [(f"fuzz-{i:03d}", random_text(rng, rng.randint(5, 120))) for i in range(300)]
        rows += [(f"words-{i:03d}", words_text(rng, rng.randint(5, 60))) for i in range(100)]
        emit(rows)
    elif kind == "large":  # a few ~100 KB mixed texts (~1 MB in all)
        rows = [(f"large-{i:02d}", random_text(rng, 40000) if i % 2 else words_text(rng, 15000)) for i in range(10)]
        emit(rows)


main()
