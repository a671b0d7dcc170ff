//! The bootstrap catalog file (`catalog.toml`): the products a fresh cluster starts with.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::shop::ProductRecord;
use bazaar_api::ProductSpec;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read catalog {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse catalog {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("catalog {path}: product[{index}]: {reason}")]
    Invalid {
        path: PathBuf,
        index: usize,
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    product: Vec<ProductSpec>,
}

pub fn load_catalog(path: &Path) -> Result<Vec<ProductRecord>, CatalogError> {
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_catalog(&text).map_err(|e| match e {
        ParseFailure::Toml(source) => CatalogError::Parse {
            path: path.to_owned(),
            source,
        },
        ParseFailure::Product(index, reason) => CatalogError::Invalid {
            path: path.to_owned(),
            index,
            reason,
        },
    })
}

enum ParseFailure {
    Toml(toml::de::Error),
    Product(usize, String),
}

fn parse_catalog(text: &str) -> Result<Vec<ProductRecord>, ParseFailure> {
    let file: CatalogFile = toml::from_str(text).map_err(ParseFailure::Toml)?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(file.product.len());
    for (i, spec) in file.product.iter().enumerate() {
        spec.validate().map_err(|r| ParseFailure::Product(i, r))?;
        if !seen.insert(spec.name.clone()) {
            return Err(ParseFailure::Product(
                i,
                format!("name {:?} appears twice", spec.name),
            ));
        }
        out.push(ProductRecord::from_spec(spec));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_has_the_earlier_shops_products() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../catalog.toml");
        let products = load_catalog(&path).unwrap();
        for name in [
            "Tux",
            "Fox",
            "Python",
            "Whale",
            "Elephant",
            "Dolphin",
            "Lego",
            "Monopoly",
            "Frisbee",
            "Marbles",
            "RPCs for Noobs",
        ] {
            let p = products
                .iter()
                .find(|p| p.name == name)
                .unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(p.stock, 100);
        }
        let books = products
            .iter()
            .filter(|p| p.topic == "undergraduate school")
            .count();
        assert_eq!(books, 2);
    }

    #[test]
    fn duplicates_and_bad_names_are_reported_by_position() {
        let dup = "[[product]]\nname='A'\ntopic='t'\nprice=1.0\nquantity=1\n[[product]]\nname='A'\ntopic='t'\nprice=1.0\nquantity=1\n";
        assert!(matches!(
            parse_catalog(dup),
            Err(ParseFailure::Product(1, _))
        ));
        let bad = "[[product]]\nname='a/b'\ntopic='t'\nprice=1.0\nquantity=1\n";
        assert!(matches!(
            parse_catalog(bad),
            Err(ParseFailure::Product(0, _))
        ));
    }
}
