#!/usr/bin/env bash
# Makes the web font the Billing Center embeds for Simplified Chinese: Noto Sans CJK SC
# (SIL Open Font License 1.1, from Debian's fonts-noto-cjk) cut down to the characters of the
# Chinese message catalogue, as WOFF2, with the license beside it. Run it again after the
# catalogue gains characters; it needs apt-get and pip (fonttools, brotli).
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
for weight in Regular Bold; do
    # Font 2 of the collection is the Simplified Chinese face.
    python3 -m fontTools.subset "$work/x/usr/share/fonts/opentype/noto/NotoSansCJK-$weight.ttc" --font-number=2 \
        --text-file="$text" --flavor=woff2 --layout-features='*' --no-hinting --desubroutinize \
        --output-file="$out/NotoSansSC-$weight.subset.woff2"
done
zcat -f "$work/x/usr/share/doc/fonts-noto-cjk/copyright" > "$out/NotoSansCJK.LICENSE"
ls -l "$out"
