//! Deterministic, realistic Swedish customers for seeding: the same (provider, company,
//! index) always gives the same customer.

use crate::lenient::{luhn_check_digit, stable_hash, SplitMix64};

/// One generated customer, in neutral terms; each simulator maps it to its own fields.
#[derive(Debug, Clone)]
pub(crate) struct SeedCustomer {
    pub name: String,
    pub is_private: bool,
    /// `NNNNNN-NNNN` with a valid check digit (a personnummer for private persons).
    pub organisation_number: String,
    pub address1: String,
    pub zip_code: String,
    pub city: String,
    pub email: String,
    pub phone: String,
}

const FIRST_NAMES: &[&str] = &[
    "Anna", "Eva", "Maria", "Karin", "Sara", "Lena", "Emma", "Kerstin", "Ingrid", "Elin", "Lars",
    "Mikael", "Anders", "Johan", "Erik", "Per", "Karl", "Peter", "Thomas", "Jan", "Daniel",
    "Fredrik", "Hans", "Mats", "Magnus", "Åsa", "Linnéa", "Björn", "Göran", "Ulf",
];

const SURNAMES: &[&str] = &[
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Gustafsson",
    "Pettersson",
    "Jonsson",
    "Jansson",
    "Hansson",
    "Bengtsson",
    "Jönsson",
    "Lindberg",
    "Jakobsson",
    "Magnusson",
    "Olofsson",
    "Lindström",
    "Lindqvist",
    "Lindgren",
    "Berg",
    "Axelsson",
    "Bergström",
    "Lundberg",
    "Lundgren",
    "Mattsson",
    "Berglund",
    "Fredriksson",
    "Sandberg",
    "Henriksson",
    "Forsberg",
    "Sjöberg",
    "Wallin",
    "Engström",
    "Eklund",
    "Danielsson",
    "Håkansson",
    "Björk",
    "Bergman",
    "Holm",
    "Wikström",
    "Isaksson",
];

const TRADES: &[&str] = &[
    "Bygg",
    "El",
    "Måleri",
    "VVS",
    "Trädgård",
    "Städ",
    "Transport",
    "Snickeri",
    "Plåtslageri",
    "Tak",
    "Mark",
    "Rör",
    "Golv",
    "Kakel",
    "Fönster",
    "Ventilation",
    "Lås",
    "Glas",
];

const SUFFIXES: &[&str] = &[
    "AB",
    "& Son AB",
    "Service AB",
    "Entreprenad AB",
    "HB",
    "i Sverige AB",
];

/// (city, first three digits of its postal codes, phone area code)
const CITIES: &[(&str, &str, &str)] = &[
    ("Stockholm", "114", "08"),
    ("Göteborg", "411", "031"),
    ("Malmö", "211", "040"),
    ("Uppsala", "753", "018"),
    ("Västerås", "722", "021"),
    ("Örebro", "702", "019"),
    ("Linköping", "582", "013"),
    ("Helsingborg", "252", "042"),
    ("Jönköping", "553", "036"),
    ("Norrköping", "602", "011"),
    ("Lund", "222", "046"),
    ("Umeå", "903", "090"),
    ("Gävle", "802", "026"),
    ("Borås", "503", "033"),
    ("Södertälje", "151", "08"),
    ("Eskilstuna", "632", "016"),
    ("Halmstad", "302", "035"),
    ("Växjö", "352", "0470"),
    ("Karlstad", "652", "054"),
    ("Sundsvall", "852", "060"),
    ("Luleå", "972", "0920"),
    ("Östersund", "831", "063"),
    ("Kalmar", "392", "0480"),
    ("Falun", "791", "023"),
];

const STREETS: &[&str] = &[
    "Storgatan",
    "Kungsgatan",
    "Drottninggatan",
    "Västra vägen",
    "Skolgatan",
    "Kyrkogatan",
    "Järnvägsgatan",
    "Industrivägen",
    "Parkvägen",
    "Ringvägen",
    "Björkvägen",
    "Tallvägen",
    "Åsvägen",
    "Sjögatan",
    "Hamngatan",
    "Mejerivägen",
    "Bruksgatan",
    "Smedjegatan",
];

fn pick<'a>(rng: &mut SplitMix64, items: &[&'a str]) -> &'a str {
    let i = usize::try_from(rng.below(items.len() as u64)).unwrap_or(0);
    items.get(i).copied().unwrap_or("")
}

/// Lower-case ASCII for e-mail addresses (`Åsa Sjöberg` → `asa.sjoberg`).
fn ascii_slug(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'å' | 'ä' | 'Å' | 'Ä' => Some('a'),
            'ö' | 'Ö' => Some('o'),
            'é' | 'É' => Some('e'),
            ' ' | '-' => Some('.'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect::<String>()
        .split('.')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(".")
}

/// The `index`-th customer of the company `company_key` of `provider`.
pub(crate) fn customer(provider: &str, company_key: &str, index: u64) -> SeedCustomer {
    let salt = stable_hash(&[provider, company_key]);
    let mut rng = SplitMix64::new(salt ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let (city, zip_prefix, area) = CITIES
        .get(usize::try_from(rng.below(CITIES.len() as u64)).unwrap_or(0))
        .copied()
        .unwrap_or(("Stockholm", "114", "08"));
    let is_private = rng.below(5) == 0;
    let first = pick(&mut rng, FIRST_NAMES);
    let last = pick(&mut rng, SURNAMES);
    // Unique per index: 7919 is prime, so i * 7919 mod 10^6 repeats only after 10^6 indexes.
    let serial = (index.wrapping_mul(7919).wrapping_add(salt % 1_000_000)) % 1_000_000;
    let (name, organisation_number, email) = if is_private {
        let year = 50 + rng.below(50);
        let month = 1 + rng.below(12);
        let day = 1 + rng.below(28);
        let nine = format!("{year:02}{month:02}{day:02}{:03}", serial % 1000);
        let check = luhn_check_digit(&nine);
        let email = format!(
            "{}.{}{}@mail.se",
            ascii_slug(first),
            ascii_slug(last),
            serial % 100
        );
        (
            format!("{first} {last}"),
            format!("{}-{}{check}", &nine[..6], &nine[6..]),
            email,
        )
    } else {
        let trade = pick(&mut rng, TRADES);
        let suffix = pick(&mut rng, SUFFIXES);
        let name = if rng.below(2) == 0 {
            format!("{last}s {trade} {suffix}")
        } else {
            format!("{trade} {city} {suffix}")
        };
        let prefix = if rng.below(2) == 0 { "556" } else { "559" };
        let nine = format!("{prefix}{serial:06}");
        let check = luhn_check_digit(&nine);
        let domain = format!("{}{}", ascii_slug(trade).replace('.', ""), serial % 1000);
        (
            name,
            format!("{}-{}{check}", &nine[..6], &nine[6..]),
            format!("info@{domain}.se"),
        )
    };
    let street = pick(&mut rng, STREETS);
    let number = 1 + rng.below(120);
    let zip = format!("{zip_prefix} {:02}", rng.below(100));
    let phone = if rng.below(3) == 0 {
        format!(
            "07{}-{:03} {:02} {:02}",
            rng.below(10),
            rng.below(1000),
            rng.below(100),
            rng.below(100)
        )
    } else {
        format!(
            "{area}-{:03} {:02} {:02}",
            rng.below(1000),
            rng.below(100),
            rng.below(100)
        )
    };
    SeedCustomer {
        name,
        is_private,
        organisation_number,
        address1: format!("{street} {number}"),
        zip_code: zip,
        city: city.to_string(),
        email,
        phone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_plausible() {
        let a = customer("fortnox", "1234567", 3);
        let b = customer("fortnox", "1234567", 3);
        assert_eq!(a.name, b.name);
        assert_eq!(a.organisation_number.len(), 11);
        assert!(a.email.contains('@') && a.email.is_ascii());
        let digits: String = a
            .organisation_number
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        assert_eq!(
            luhn_check_digit(&digits[..9]),
            digits[9..].parse::<u32>().unwrap()
        );
        let orgs: std::collections::HashSet<String> = (0..2000)
            .map(|i| customer("visma", "x", i).organisation_number)
            .collect();
        assert!(
            orgs.len() > 1990,
            "organisation numbers should be (nearly) unique"
        );
    }
}
