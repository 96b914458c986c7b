#!/usr/bin/env bash
# Makes the fonts billcenter embeds, from Noto Sans CJK SC (SIL Open Font License 1.1, from
# Debian's fonts-noto-cjk), with the license beside each:
# - the web font of the Billing Center: cut down to the characters of the Chinese message
#   catalogue, as WOFF2 (run this again after the catalogue gains characters);
# - the PDF font of invoices: every character of GB 2312 (the 6,763 hanzi of Simplified
#   Chinese and its symbols) with Latin, general punctuation, currency signs, CJK punctuation
#   and full-width forms, as OpenType; a PDF embeds only the glyphs it uses.
# It needs apt-get and pip (fonttools, brotli).
set -euo pipefail
cd "$(dirname "$0")/.."
out=crates/http/assets/fonts
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download fonts-noto-cjk >/dev/null && dpkg-deb -x fonts-noto-cjk_*.deb x)
python3 -m pip install -q fonttools brotli >/dev/null
# The catalogue's characters, with the digits and punctuation they come with.
text="$work/chars.txt"
cat crates/http/i18n/zh-CN.ftl > "$text"
printf '0123456789%%,.:;()（）：；，。、—–-/ ' >> "$text"
mkdir -p "$out"
# The characters the web font holds, beside it: a test checks the catalogue needs no other.
python3 -c 'import sys; print("".join(sorted(set(open(sys.argv[1]).read()) - set("\n"))))' "$text" > "$out/NotoSansSC.subset-chars.txt"
for weight in Regular Bold; do
    # Font 2 of the collection is the Simplified Chinese face.
    python3 -m fontTools.subset "$work/x/usr/share/fonts/opentype/noto/NotoSansCJK-$weight.ttc" --font-number=2 \
        --text-file="$text" --flavor=woff2 --layout-features='*' --no-hinting --desubroutinize \
        --output-file="$out/NotoSansSC-$weight.subset.woff2"
done
zcat -f "$work/x/usr/share/doc/fonts-noto-cjk/copyright" > "$out/NotoSansCJK.LICENSE"
ls -l "$out"

pdf=crates/export/fonts
mkdir -p "$pdf"
python3 - "$work/pdf-chars.txt" <<'PY'
import sys
chars = set()
for lead in range(0xA1, 0xF8):
    for trail in range(0xA1, 0xFF):
        try:
            chars.add(bytes([lead, trail]).decode("gb2312"))
        except UnicodeDecodeError:
            pass
for lo, hi in [(0x20, 0x7F), (0xA0, 0x180), (0x2000, 0x2070), (0x20A0, 0x20C0), (0x3000, 0x3040), (0xFF00, 0xFF66)]:
    chars.update(map(chr, range(lo, hi)))
open(sys.argv[1], "w").write("".join(sorted(chars)))
PY
for weight in Regular Bold; do
    python3 -m fontTools.subset "$work/x/usr/share/fonts/opentype/noto/NotoSansCJK-$weight.ttc" --font-number=2 \
        --text-file="$work/pdf-chars.txt" --layout-features='kern,liga,palt' --no-hinting --name-IDs='*' \
        --output-file="$pdf/NotoSansSC-$weight.otf"
done
cp "$out/NotoSansCJK.LICENSE" "$pdf/"
ls -l "$pdf"
