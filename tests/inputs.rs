//! The input side, end to end: real exports (tests/fixtures/exports/)
//! through the real binary, against a tiny zone (shop.zz takes mail, any
//! other name under zz. is NXDOMAIN), so no test needs the network.

use std::process::Output;

use serde_json::Value;

use crate::util::*;

fn zone() -> String {
    fixture("exports/exports.zone").display().to_string()
}

fn export(name: &str) -> String {
    fixture(&format!("exports/{name}")).display().to_string()
}

fn check(extra: &[&str], stdin: Option<&[u8]>) -> Output {
    let zone = zone();
    let mut args = vec!["check", "--zone", &zone, "--no-history"];
    args.extend_from_slice(extra);
    run(&args, stdin)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status,
        stderr(out)
    );
}

/// (line, address, reason) of every row, in order.
fn rows_of(rows: &[Value]) -> Vec<(u64, String, String)> {
    rows.iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["address"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn want(v: &[(u64, &str, &str)]) -> Vec<(u64, String, String)> {
    v.iter()
        .map(|(l, a, r)| (*l, a.to_string(), r.to_string()))
        .collect()
}

/// An export, the column said on stderr, its rows' lines, and a
/// pass-through field of its first row.
type Case = (
    &'static str,
    &'static str,
    [u64; 3],
    (&'static str, &'static str),
);

/// Every export reads its address column, every row in order, with the
/// other fields intact.
#[test]
fn each_export_reads_its_address_column() {
    let cases: &[Case] = &[
        (
            "mailchimp.csv",
            "column 1 'Email Address'",
            [2, 3, 4],
            ("Address", "12 High St, Springfield, IL 62701"),
        ),
        (
            "hubspot.csv",
            "column 4 'Email'",
            [2, 3, 4],
            ("Record ID", "501"),
        ),
        (
            "salesforce.csv",
            "column 9 'Email'",
            [2, 4, 5],
            ("Description", "Met at the \"Spring\" fair"),
        ),
        (
            "outlook.csv",
            "column 9 'E-mail Address'",
            [2, 3, 4],
            ("E-mail 2 Address", "ann.private@gone.zz"),
        ),
        (
            "google.csv",
            "column 10 'E-mail 1 - Value'",
            [2, 4, 5],
            ("Address 1 - Formatted", "12 High St\nSpringfield, IL 62701"),
        ),
        (
            "brevo.csv",
            "column 2 'EMAIL'",
            [2, 3, 4],
            ("MONTANT_TOTAL", "1.234,56"),
        ),
        (
            "klaviyo.tsv",
            "column 1 'Email'",
            [2, 3, 4],
            ("City", "Springfield, IL"),
        ),
        (
            "contacts.txt",
            "column 2 'Email Address'",
            [2, 3, 4],
            ("Source", "form"),
        ),
    ];
    for (file, column, lines, (field, value)) in cases {
        let out = check(&["-f", "jsonl", &export(file)], None);
        ok(&out);
        let err = stderr(&out);
        assert!(
            err.contains(&format!("addresses from {column}")),
            "{file}: {err}"
        );
        let rows = jsonl(&out);
        assert_eq!(
            rows_of(&rows),
            want(&[
                (lines[0], "ann@shop.zz", "deliverable"),
                (lines[1], "bob@gone.zz", "nxdomain"),
                (lines[2], "cy@shop.zz", "deliverable"),
            ]),
            "{file}"
        );
        assert_eq!(rows[0]["columns"][field], *value, "{file}");
    }
}

/// CSV output carries every input column, quoted multi-line fields and
/// doubled quotes included, and a ragged row's extra fields after ours.
#[test]
fn csv_output_keeps_every_field() {
    let out = check(&["-f", "csv", &export("salesforce.csv")], None);
    ok(&out);
    let mut r = csv::Reader::from_reader(out.stdout.as_slice());
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header[..3], ["Contact ID", "First Name", "Last Name"]);
    assert_eq!(header[11], "domain");
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[0][5], "12 High St\r\nSuite 400");
    assert_eq!(&rows[2][5], "1 Loop\r\nBuilding 2\r\nFloor 3");
    assert_eq!(&rows[0][10], "Met at the \"Spring\" fair");
    assert_eq!(&rows[1][13], "nxdomain");

    let out = check(&["-f", "csv", &export("ragged.csv")], None);
    ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains("2 row(s) have another number of fields than the header")
            && err.contains("ragged.csv line 3"),
        "{err}"
    );
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(out.stdout.as_slice());
    let width = r.headers().unwrap().len();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4, "every row, the short one too");
    // Bob's `1,234,56`: the extra fields follow prebounce's columns.
    assert_eq!(&rows[1][2], "1");
    assert_eq!(rows[1].len(), width + 2);
    assert_eq!((&rows[1][width], &rows[1][width + 1]), ("234", "56"));
    assert_eq!(&rows[1][4], "suppress");
    assert_eq!(&rows[2][0], "Cy");
    assert_eq!(&rows[2][5], "address_invalid");
    // JSONL keeps them too.
    let out = check(&["-f", "jsonl", &export("ragged.csv")], None);
    let rows = jsonl(&out);
    assert_eq!(rows[1]["extra_fields"], serde_json::json!(["234", "56"]));
}

/// CSV on stdin, and a CSV file named .txt, are read as CSV; a
/// one-column CSV too; --input-format text forces lines.
#[test]
fn csv_is_found_on_stdin_and_whatever_the_name() {
    let bytes = std::fs::read(fixture("exports/contacts.txt")).unwrap();
    let out = check(&["-f", "jsonl"], Some(&bytes));
    ok(&out);
    assert!(stderr(&out).contains("-: CSV (comma-separated)"));
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1]["address"], "bob@gone.zz");
    assert_eq!(rows[1]["columns"]["Name"], "Bob Ng");

    let out = check(&["-f", "jsonl"], Some(b"E-mail\nann@shop.zz\ncy@shop.zz\n"));
    ok(&out);
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 2, "the header is not a row");
    assert_eq!(rows[0]["line"], 2);

    let out = check(
        &[
            "-f",
            "jsonl",
            "--input-format",
            "text",
            &export("contacts.txt"),
        ],
        None,
    );
    ok(&out);
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 4, "read as lines, as asked");
    assert_eq!(rows[0]["reason"], "address_invalid");
}

/// Excel's "Unicode text": UTF-16LE with a BOM, tab-separated, CRLF.
#[test]
fn utf16_with_a_bom_is_transcoded() {
    let dir = Dir::new();
    let text = "Name\tE-mail Address\tCity\r\nJosé Núñez\tann@shop.zz\tZürich\r\nZoë\tbob@gone.zz\tKøbenhavn\r\n";
    let mut le = vec![0xff, 0xfe];
    let mut be = vec![0xfe, 0xff];
    for u in text.encode_utf16() {
        le.extend_from_slice(&u.to_le_bytes());
        be.extend_from_slice(&u.to_be_bytes());
    }
    for (name, bytes) in [("unicode.txt", le), ("unicode-be.txt", be)] {
        let path = dir.write(name, bytes);
        let out = check(&["-f", "jsonl", path.to_str().unwrap()], None);
        ok(&out);
        assert!(
            stderr(&out).contains("tab-separated, UTF-16"),
            "{}",
            stderr(&out)
        );
        let rows = jsonl(&out);
        assert_eq!(
            rows_of(&rows),
            want(&[
                (2, "ann@shop.zz", "deliverable"),
                (3, "bob@gone.zz", "nxdomain")
            ])
        );
        assert_eq!(rows[0]["columns"]["Name"], "José Núñez");
        assert_eq!(rows[1]["columns"]["City"], "København");
    }
}

/// A Latin-1 export is refused with a hint to convert it, before any row.
#[test]
fn latin1_is_an_error_with_a_hint() {
    let dir = Dir::new();
    let path = dir.write(
        "latin1.csv",
        b"Name,Email\nJos\xe9 N\xfa\xf1ez,ann@shop.zz\nZo\xeb,bob@gone.zz\n",
    );
    let out = check(&["-f", "jsonl", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("is not UTF-8") && err.contains("iconv -f latin1 -t utf-8"),
        "{err}"
    );
}

/// A quote never closed in row 2 of 1,000: exit 1 naming line 3 (the
/// header is line 1), or with --lenient every row, read line by line.
#[test]
fn an_unterminated_quote_is_never_silent() {
    let dir = Dir::new();
    let mut text = String::from("name,email,note\n");
    text.push_str("Ann,ann@shop.zz,ok\n");
    text.push_str("Bob,bob@gone.zz,\"unclosed\n");
    for i in 3..=1000 {
        text.push_str(&format!("n{i},u{i}@shop.zz,fine\n"));
    }
    let path = dir.write("quote.csv", &text);
    let out = check(&["-f", "jsonl", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("line 3: a quoted field opened here is never closed")
            && err.contains("--lenient"),
        "{err}"
    );
    assert!(jsonl(&out).len() <= 1, "only the rows before it");

    let out = check(&["-f", "jsonl", "--lenient", path.to_str().unwrap()], None);
    ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains("line 3") && err.contains("(--lenient)"),
        "{err}"
    );
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 1000);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["line"], i as u64 + 2);
    }
    assert_eq!(rows[1]["address"], "bob@gone.zz");
    assert_eq!(rows[1]["columns"]["note"], "\"unclosed");
    assert_eq!(rows[999]["address"], "u1000@shop.zz");

    // The small fixture: the same, and its rows read on with --lenient.
    let file = export("unterminated.csv");
    let out = check(&["-f", "jsonl", &file], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("unterminated.csv: line 3"));
    let out = check(&["-f", "jsonl", "--lenient", &file], None);
    ok(&out);
    let addresses: Vec<String> = rows_of(&jsonl(&out)).into_iter().map(|r| r.1).collect();
    assert_eq!(
        addresses,
        [
            "ann@shop.zz",
            "bob@gone.zz",
            "cy@shop.zz",
            "di@shop.zz",
            "ed@shop.zz"
        ]
    );

    // A quote closed much later still swallows rows: an error too.
    let mut text = String::from("name,email\nA,\"a@shop.zz\n");
    for i in 0..5 {
        text.push_str(&format!("n{i},u{i}@shop.zz\n"));
    }
    text.push_str("Z,z@shop.zz\"\n");
    let path = dir.write("swallow.csv", &text);
    let out = check(&["-f", "jsonl", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("look like rows of their own"));
}

/// Most rows `address_invalid`: a loud warning naming the column and how
/// to choose another, every row written, exit code 4.
#[test]
fn mostly_invalid_rows_warn_and_exit_4() {
    let dir = Dir::new();
    let mut text = String::from("First Name,Email\n");
    for i in 0..12 {
        text.push_str(&format!("P{i},p{i}@shop.zz\n"));
    }
    let path = dir.write("people.csv", &text);
    let out = check(
        &[
            "-f",
            "jsonl",
            "--column",
            "First Name",
            path.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(jsonl(&out).len(), 12);
    let err = stderr(&out);
    assert!(
        err.contains("12 of 12 rows are address_invalid")
            && err.contains("column 1 'First Name'")
            && err.contains("--column NAME (the header has: First Name, Email)"),
        "{err}"
    );
    // Under 10 rows, or half or fewer: no warning.
    let out = check(&["-f", "jsonl"], Some(b"x\ny\nz\n"));
    ok(&out);
    // A text list of junk says how to read it as CSV.
    let junk: String = (0..10).map(|i| format!("junk {i}\n")).collect();
    let out = check(&["-f", "jsonl"], Some(junk.as_bytes()));
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("--input-format csv"));
}

/// Text: `#` starts a comment only before a space or alone, or on a line
/// without `@`; CR, LF and CRLF all end lines.
#[test]
fn text_comments_and_line_ends() {
    let out = check(
        &["-f", "jsonl"],
        Some(b"#sales@shop.zz\r# a note about x@shop.zz\r#\r#note\r\nann@shop.zz\ncy@shop.zz"),
    );
    ok(&out);
    assert_eq!(
        rows_of(&jsonl(&out)),
        want(&[
            (1, "#sales@shop.zz", "deliverable"),
            (5, "ann@shop.zz", "deliverable"),
            (6, "cy@shop.zz", "deliverable"),
        ])
    );
}

/// `-o FILE` picks the format by extension unless --format says.
#[test]
fn output_format_follows_the_file_name() {
    let dir = Dir::new();
    let input = export("hubspot.csv");
    for (name, first) in [
        ("v.jsonl", "{"),
        ("v.ndjson", "{"),
        ("v.json", "["),
        ("v.csv", "Record ID,"),
        ("v.txt", "ADDRESS "),
    ] {
        let path = dir.path(name);
        ok(&check(&["-q", "-o", path.to_str().unwrap(), &input], None));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(first), "{name}: {text}");
    }
    let path = dir.path("forced.jsonl");
    ok(&check(
        &["-q", "-f", "csv", "-o", path.to_str().unwrap(), &input],
        None,
    ));
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with("Record ID,"));
}

/// --delimiter and --no-header, and --quiet keeps the column line quiet.
#[test]
fn delimiter_and_no_header_flags() {
    let out = check(
        &["-f", "jsonl", "--delimiter", ";", "--no-header"],
        Some(b"Ann;ann@shop.zz;1,5\nBob;bob@gone.zz;2\n"),
    );
    ok(&out);
    assert!(stderr(&out).contains("no header row"));
    let rows = jsonl(&out);
    assert_eq!(
        rows_of(&rows),
        want(&[
            (1, "ann@shop.zz", "deliverable"),
            (2, "bob@gone.zz", "nxdomain")
        ])
    );
    assert_eq!(rows[0]["columns"]["column3"], "1,5");
    let out = check(
        &["-q", "-f", "jsonl"],
        Some(b"name|email\nAnn|ann@shop.zz\n"),
    );
    ok(&out);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    assert_eq!(jsonl(&out)[0]["address"], "ann@shop.zz");
    let out = check(&["--delimiter", "ab"], Some(b""));
    assert_eq!(out.status.code(), Some(2));
}

/// --extract takes the address out of `Name <a@b>` and `mailto:` forms;
/// the CSV field passes through as given.
#[test]
fn extract_pulls_addresses_out_of_display_forms() {
    let input =
        b"Name,To\nAnn,Ann Lee <ann@shop.zz>\nBob,mailto:bob@gone.zz?subject=hi\nCy,cy@shop.zz\n";
    let out = check(&["-f", "jsonl", "--extract"], Some(input));
    ok(&out);
    let rows = jsonl(&out);
    assert_eq!(
        rows_of(&rows),
        want(&[
            (2, "ann@shop.zz", "deliverable"),
            (3, "bob@gone.zz", "nxdomain"),
            (4, "cy@shop.zz", "deliverable"),
        ])
    );
    assert_eq!(rows[0]["columns"]["To"], "Ann Lee <ann@shop.zz>");
    // Without it, the same column is read, as given.
    let out = check(&["-f", "jsonl"], Some(input));
    let rows = jsonl(&out);
    assert_eq!(rows[0]["reason"], "address_invalid");
    assert_eq!(rows[2]["reason"], "deliverable");
}
