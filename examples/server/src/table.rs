//! Plain-text tables for the admin listings: left-aligned columns separated by two spaces,
//! readable in a terminal and easy to cut with `awk`.

use std::fmt::Write as _;

/// Renders `rows` under `headers`, each column as wide as its widest cell.
pub(crate) fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers
        .iter()
        .map(|header| header.chars().count())
        .collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (index, (cell, width)) in cells.zip(&widths).enumerate() {
            if index > 0 {
                text.push_str("  ");
            }
            let _ = write!(text, "{cell:<width$}");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let table = render(
            &["NAME", "HEIGHTS"],
            &[
                vec!["Basic".into(), "200".into()],
                vec!["Enterprise".into(), "200,400".into()],
            ],
        );
        assert_eq!(
            table,
            "NAME        HEIGHTS\nBasic       200\nEnterprise  200,400\n"
        );
    }
}
