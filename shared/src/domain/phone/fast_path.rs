//! A fast path for the common phone number: digits and separators, written with `+` and a
//! country code or nationally without a trunk prefix. It checks the number against the same
//! libphonenumber metadata the `phonenumber` crate ships, with the crate's own validity rule,
//! and leaves every other input to the crate.
//!
//! Why it exists: the crate keeps its metadata patterns in one LRU cache keyed by the pattern
//! text, behind a global mutex, and hashes each pattern (some are kilobytes long) on every use.
//! Parsing plus `is_valid` cost about 10 µs a number, most of an import row. Here the patterns
//! of a country code are compiled once, on first use, into a table indexed by code.
//!
//! The rule is conservative: anything the crate might rewrite (a trunk prefix, an
//! international dialling prefix, a leading zero, a country code written without `+`, an
//! extension, letters) goes to the crate, and so does every number this path finds invalid,
//! so that errors and odd inputs keep the crate's behaviour. A test compares both paths over
//! the metadata's example numbers of every region and their variants.

use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex::{Regex, RegexBuilder};
use std::sync::{LazyLock, OnceLock};

/// The E.164 form of `input` when this path can vouch for it; `None` sends it to the crate.
/// `default_code` is the country code of the tenant's default region, used without `+`.
pub fn e164(input: &str, default_code: u16) -> Option<String> {
    let (plus, rest) = match input.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, input),
    };
    // Without a space, the crate first reads the input as an RFC 3966 number and takes all
    // digits up to the first separator as the country code ("+4930-901820" has code 4930 and
    // is refused); such inputs are left to it.
    if plus && !rest.contains(' ') && rest.contains(['-', '.', '(', ')', '/']) {
        return None;
    }
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '/' => {}
            _ => return None,
        }
    }
    if digits.starts_with('0') {
        return None;
    }
    let (code, national) = if plus {
        country_code_prefix(&digits)?
    } else {
        if digits.starts_with(&default_code.to_string()) {
            return None;
        }
        (default_code, digits.as_str())
    };
    // The crate keeps the national number in 56 bits: 17 digits can overflow it.
    if national.starts_with('0') || !(2..=16).contains(&national.len()) {
        return None;
    }
    let patterns = code_patterns(code)?;
    if patterns.regions.iter().any(|r| r.might_rewrite(national)) {
        return None;
    }
    let region = patterns.source_for(national)?;
    region.is_valid(national).then(|| format!("+{code}{national}"))
}

/// libphonenumber reads the country code as the shortest known prefix of 1 to 3 digits.
fn country_code_prefix(digits: &str) -> Option<(u16, &str)> {
    (1..=3.min(digits.len())).find_map(|len| {
        let code: u16 = digits[..len].parse().ok()?;
        DATABASE.region(&code).is_some().then(|| (code, &digits[len..]))
    })
}

/// Country codes are below 1000: one lazily filled slot each.
static BY_CODE: LazyLock<Vec<OnceLock<Option<CodePatterns>>>> =
    LazyLock::new(|| (0..1000).map(|_| OnceLock::new()).collect());

fn code_patterns(code: u16) -> Option<&'static CodePatterns> {
    BY_CODE
        .get(usize::from(code))?
        .get_or_init(|| CodePatterns::compile(code))
        .as_ref()
}

/// The compiled metadata of the regions that share one country code, in the crate's order.
struct CodePatterns {
    regions: Vec<RegionPatterns>,
    /// "001": a non-geographic code, whose first entry is used.
    non_geographic: bool,
}

struct RegionPatterns {
    meta: &'static Metadata,
    leading_digits: Option<Regex>,
    national_prefix: Option<String>,
    national_prefix_for_parsing: Option<Regex>,
    international_prefix: Option<Regex>,
    /// Compiled when the region is first asked about: the 25 regions of +1 share a code, and
    /// most numbers only ever need the first one's (large) patterns.
    numbers: OnceLock<Option<NumberPatterns>>,
}

struct NumberPatterns {
    general: NumberPattern,
    /// The number types `phonenumber::number_type` tries; any match makes a number valid.
    types: Vec<NumberPattern>,
}

struct NumberPattern {
    possible_lengths: Vec<u16>,
    national_number: Regex,
}

impl CodePatterns {
    fn compile(code: u16) -> Option<Self> {
        let ids = DATABASE.region(&code)?;
        let non_geographic = ids.len() == 1 && ids[0] == "001";
        let metas: Vec<&'static Metadata> = if non_geographic {
            DATABASE.by_code(&code)?.into_iter().take(1).collect()
        } else {
            ids.iter().map(|id| DATABASE.by_id(*id)).collect::<Option<_>>()?
        };
        let regions = metas
            .into_iter()
            .map(RegionPatterns::compile)
            .collect::<Option<_>>()?;
        Some(Self {
            regions,
            non_geographic,
        })
    }

    /// `phonenumber::validator::source_for`: a single region, else the first whose leading
    /// digits match, or (without leading digits) whose types accept the number.
    fn source_for(&self, national: &str) -> Option<&RegionPatterns> {
        if self.non_geographic || self.regions.len() == 1 {
            return self.regions.first();
        }
        self.regions.iter().find(|r| match &r.leading_digits {
            Some(leading) => leading.is_match(national),
            None => r.is_valid(national),
        })
    }
}

impl RegionPatterns {
    fn compile(meta: &'static Metadata) -> Option<Self> {
        Some(Self {
            meta,
            leading_digits: meta
                .leading_digits()
                .map(|r| anchored(r.as_str()))
                .transpose()
                .ok()?,
            national_prefix: meta.national_prefix().map(str::to_owned),
            national_prefix_for_parsing: meta
                .national_prefix_for_parsing()
                .map(|r| anchored(r.as_str()))
                .transpose()
                .ok()?,
            international_prefix: meta
                .international_prefix()
                .map(|r| anchored(r.as_str()))
                .transpose()
                .ok()?,
            numbers: OnceLock::new(),
        })
    }

    /// Whether the crate's parser could strip or rewrite a prefix of this number, so that its
    /// answer may differ from reading the digits as they are.
    fn might_rewrite(&self, national: &str) -> bool {
        let matches_nonempty = |re: &Regex| re.find(national).is_some_and(|m| !m.as_str().is_empty());
        self.national_prefix_for_parsing
            .as_ref()
            .is_some_and(matches_nonempty)
            || self
                .national_prefix
                .as_deref()
                .is_some_and(|p| !p.is_empty() && national.starts_with(p))
            || self.international_prefix.as_ref().is_some_and(matches_nonempty)
    }

    fn is_valid(&self, national: &str) -> bool {
        self.numbers
            .get_or_init(|| NumberPatterns::compile(self.meta))
            .as_ref()
            .is_some_and(|n| n.general.is_match(national) && n.types.iter().any(|t| t.is_match(national)))
    }
}

impl NumberPatterns {
    fn compile(meta: &Metadata) -> Option<Self> {
        let d = meta.descriptors();
        let types = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ];
        Some(Self {
            general: NumberPattern::compile(d.general())?,
            types: types
                .into_iter()
                .flatten()
                .map(NumberPattern::compile)
                .collect::<Option<_>>()?,
        })
    }
}

impl NumberPattern {
    fn compile(desc: &Descriptor) -> Option<Self> {
        Some(Self {
            possible_lengths: desc.possible_length().to_vec(),
            national_number: anchored(desc.national_number().as_str()).ok()?,
        })
    }

    /// `Descriptor::is_match`: a listed length, and a match of the pattern at the start.
    fn is_match(&self, national: &str) -> bool {
        let len = national.len() as u16;
        (self.possible_lengths.is_empty() || self.possible_lengths.contains(&len))
            && self.national_number.is_match(national)
    }
}

/// The crate compiles metadata patterns with `ignore_whitespace` and accepts a match that
/// starts at 0; anchoring at the start asks the same question.
fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(&format!("^(?:{pattern}\n)"))
        .ignore_whitespace(true)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::phone::{Region, e164_by_crate};

    /// Every region with a two-letter id, with its metadata.
    fn regions() -> Vec<(Region, &'static Metadata)> {
        (1..1000u16)
            .filter_map(|code| DATABASE.region(&code))
            .flatten()
            .filter_map(|id| Some((Region::parse(id).ok()?, DATABASE.by_id(id)?)))
            .collect()
    }

    /// The metadata's example numbers of a region, one per number type it lists.
    fn examples(meta: &Metadata) -> Vec<String> {
        let d = meta.descriptors();
        [
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.personal_number(),
            d.voip(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ]
        .into_iter()
        .flatten()
        .filter_map(|desc| desc.example().map(str::to_owned))
        .collect()
    }

    /// Ways people write a number, right and wrong.
    fn written_forms(code: u16, national: &str, meta: &Metadata) -> Vec<String> {
        let mut forms = vec![
            format!("+{code}{national}"),
            format!("+{code} {national}"),
            format!("+{code}-{national}"),
            national.to_owned(),
            format!("{code}{national}"),
            format!("00{code}{national}"),
            format!("011{code}{national}"),
            format!("+{code}{national}0"),
            format!("+{code}{}", &national[..national.len() - 1]),
            format!("+{code}9{national}"),
            format!("+{code}1{national}"),
            format!("+{code} (0) {national}"),
            format!("{national} ext. 12"),
        ];
        if national.len() > 3 {
            let (head, tail) = national.split_at(3);
            forms.push(format!("+{code} ({head}) {tail}"));
            forms.push(format!("+{code}{head}-{tail}"));
            forms.push(format!("+{code}-{head}-{tail}"));
            forms.push(format!("+{code}({head}){tail}"));
            forms.push(format!("+{code}.{head}.{tail}"));
            forms.push(format!("+{code}{head}/{tail}"));
            forms.push(format!("+{code} {national}{tail}{tail}"));
            forms.push(
                format!("({}) {}-{}", &national[..3], &national[3..], "")
                    .trim_end_matches('-')
                    .to_owned(),
            );
        }
        if let Some(prefix) = meta.national_prefix() {
            forms.push(format!("{prefix}{national}"));
            forms.push(format!("+{code}{prefix}{national}"));
        }
        forms
    }

    #[test]
    fn when_fast_path_answers_should_agree_with_the_phonenumber_crate_for_every_region() {
        let regions = regions();
        assert!(regions.len() > 200, "only {} regions", regions.len());
        let defaults = [Region::parse("US").unwrap(), Region::parse("DE").unwrap()];
        let (mut compared, mut answered, mut valid_international, mut fast_international) = (0, 0, 0, 0);
        for (region, meta) in &regions {
            let code = meta.country_code();
            for national in examples(meta) {
                for form in written_forms(code, &national, meta) {
                    for default in defaults.iter().chain([region]) {
                        let fast = e164(&form, default.country_code());
                        let slow = e164_by_crate(&form, *default);
                        compared += 1;
                        if let Some(fast) = &fast {
                            answered += 1;
                            assert_eq!(
                                Some(fast),
                                slow.as_ref(),
                                "{form:?} with region {}",
                                default.code()
                            );
                        }
                        if form == format!("+{code} {national}") && slow.is_some() {
                            valid_international += 1;
                            fast_international += usize::from(fast.is_some());
                        }
                    }
                }
            }
        }
        // The path must carry its weight: most correctly written international numbers.
        assert!(compared > 50_000, "{compared}");
        assert!(answered > 10_000, "{answered} of {compared}");
        assert!(
            fast_international * 10 >= valid_international * 9,
            "fast path took {fast_international} of {valid_international} valid +numbers"
        );
    }

    #[test]
    fn when_input_is_unusual_should_leave_it_to_the_crate() {
        for input in [
            "+4930-901820",
            "+1212-555-0100",
            "+81 80012345678901234",
            "+1 212 555 0100 x12",
            "+49 (0)30 901820",
            "0049 30 901820",
            "1-800-FLOWERS",
            "+0 12345",
        ] {
            assert_eq!(e164(input, 1), None, "{input}");
        }
        assert_eq!(e164("+1 (212) 555-0100", 49).as_deref(), Some("+12125550100"));
        assert_eq!(e164("(212) 555-0100", 1).as_deref(), Some("+12125550100"));
        assert_eq!(e164("+44 20 7946 0958", 1).as_deref(), Some("+442079460958"));
    }
}
