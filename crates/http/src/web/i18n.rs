//! The message catalogues of the Billing Center (`i18n/*.ftl`: `key = text` a line, `{name}`
//! placeholders), the language a request wants, and lookups for templates.

use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhCn,
}

pub const LANGS: [Lang; 2] = [Lang::En, Lang::ZhCn];

type Catalogue = HashMap<&'static str, &'static str>;

fn parse(text: &'static str) -> Catalogue {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (key, value) = l.split_once(" = ").unwrap_or_else(|| panic!("a catalogue line is `key = text`: {l}"));
            (key.trim(), value.trim())
        })
        .collect()
}

static EN: LazyLock<Catalogue> = LazyLock::new(|| parse(include_str!("../../i18n/en.ftl")));
static ZH_CN: LazyLock<Catalogue> = LazyLock::new(|| parse(include_str!("../../i18n/zh-CN.ftl")));

impl Lang {
    /// The BCP 47 tag, as `?lang=` and `<html lang>` take it.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    pub fn parse(tag: &str) -> Option<Lang> {
        LANGS.into_iter().find(|l| l.tag().eq_ignore_ascii_case(tag))
    }

    /// The first language of an `Accept-Language` header that the catalogues have (any
    /// Chinese tag reads Simplified Chinese); English otherwise.
    pub fn from_accept_language(header: &str) -> Lang {
        for part in header.split(',') {
            let tag = part.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if tag.starts_with("zh") {
                return Lang::ZhCn;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::En
    }

    fn catalogue(self) -> &'static Catalogue {
        match self {
            Lang::En => &EN,
            Lang::ZhCn => &ZH_CN,
        }
    }
}

/// Lookups in one language, for templates.
#[derive(Clone, Copy, Debug)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    /// The message of a key. A key missing from the catalogue is a programming error (a test
    /// checks every key used); it shows as itself rather than failing the page.
    pub fn t(&self, key: &str) -> &'static str {
        match self.lang.catalogue().get(key) {
            Some(text) => text,
            None => {
                debug_assert!(false, "message `{key}` is not in the {} catalogue", self.lang.tag());
                EN.get(key).copied().unwrap_or("?")
            }
        }
    }

    /// The message of a key the catalogue may lack (keys made from data, such as an error's
    /// field).
    pub fn get(&self, key: &str) -> Option<&'static str> {
        self.lang.catalogue().get(key).copied()
    }

    /// A message with its `{name}` placeholders filled in.
    pub fn f(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut text = self.t(key).to_owned();
        for (name, value) in args {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    /// A value the lists show as stored (a status, a type, a charge type): its translation
    /// where the catalogue has one, else the value itself.
    pub fn value(&self, value: &str) -> String {
        self.lang.catalogue().get(format!("val-{value}").as_str()).map_or_else(|| value.to_owned(), |t| (*t).to_owned())
    }

    pub fn lang_tag(&self) -> &'static str {
        self.lang.tag()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_has_every_key_and_the_same_placeholders() {
        for lang in LANGS {
            for (key, text) in EN.iter() {
                let other = lang.catalogue().get(key).unwrap_or_else(|| panic!("`{key}` is missing from {}", lang.tag()));
                let holes = |t: &str| -> Vec<String> {
                    let mut v: Vec<String> = t.split('{').skip(1).filter_map(|p| p.split_once('}')).map(|(n, _)| n.to_owned()).collect();
                    v.sort();
                    v
                };
                assert_eq!(holes(text), holes(other), "placeholders of `{key}` in {}", lang.tag());
            }
            assert_eq!(lang.catalogue().len(), EN.len(), "{} has keys English lacks", lang.tag());
        }
    }

    /// The embedded web font is cut down to the characters of the Chinese catalogue
    /// (`scripts/subset-font.sh`, which writes the list beside the font): a message with a
    /// character the font lacks would show as a box.
    #[test]
    fn the_web_font_holds_every_character_of_the_chinese_catalogue() {
        let held = include_str!("../../assets/fonts/NotoSansSC.subset-chars.txt");
        let missing: std::collections::BTreeSet<char> =
            include_str!("../../i18n/zh-CN.ftl").chars().filter(|c| !c.is_ascii() && !held.contains(*c)).collect();
        assert!(missing.is_empty(), "run scripts/subset-font.sh: the web font lacks {missing:?}");
    }

    #[test]
    fn the_browser_language_picks_the_catalogue() {
        assert_eq!(Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Lang::ZhCn);
        assert_eq!(Lang::from_accept_language("en-GB,en;q=0.9"), Lang::En);
        assert_eq!(Lang::from_accept_language("de-DE"), Lang::En);
        assert_eq!(Lang::parse("zh-cn"), Some(Lang::ZhCn));
        let zh = Tr { lang: Lang::ZhCn };
        assert_eq!(zh.value("provisional"), "暂估");
        assert_eq!(zh.value("log_events"), "log_events");
        assert_eq!(zh.f("signed-in-as", &[("email", "a@b.c")]), "已登录：a@b.c");
    }
}
