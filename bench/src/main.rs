//! The measuring half of `scripts/bench`: generates the inputs, runs one measurement per
//! call, and prints one JSON object per result on stdout (the script collects them and writes
//! `BENCHMARKS.md`). Each measurement runs in a fresh process, so peak RSS (`VmHWM`) is that
//! measurement's own.

mod generate;
mod lambda;
mod measure;
mod receiver;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Leadgate benchmarks (run through scripts/bench)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// A 12-column lead CSV with `rows` rows.
    GenCsv {
        #[arg(long)]
        rows: usize,
        #[arg(long)]
        out: PathBuf,
        /// The first lead's number: a file from 700,000 with 1,000,000 rows repeats the last
        /// 300,000 leads of a file from 0 (30% match) and adds 700,000 new ones.
        #[arg(long, default_value_t = 0)]
        start: usize,
        /// Every lead with another job title than the same number's lead of a plain file, so
        /// an `update` import of matching rows changes them.
        #[arg(long)]
        retitled: bool,
        /// Adds a `Created Date` column spreading the leads over this many days up to today,
        /// and their sources over every seeded source (the analytics bench's history).
        #[arg(long)]
        created_over_days: Option<u32>,
    },
    /// A 10-column lead XLSX with `rows` rows.
    GenXlsx {
        #[arg(long)]
        rows: usize,
        /// The first N of the CSV's 12 columns: 10 (no source, no tags) for the parse +
        /// validate row, 12 for the end-to-end import.
        #[arg(long, default_value_t = 10)]
        columns: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// The import pipeline without a store: read, map headers, validate, normalize.
    Pipeline {
        #[arg(long)]
        file: PathBuf,
    },
    /// The csv crate alone reading every record of the file.
    CsvRaw {
        #[arg(long)]
        file: PathBuf,
    },
    /// calamine alone reading every cell of the first sheet.
    CalamineRaw {
        #[arg(long)]
        file: PathBuf,
    },
    /// `rows` leads into `{data}/leadgate.sqlite3` for the default tenant.
    Seed {
        #[arg(long)]
        rows: usize,
        #[arg(long)]
        data: PathBuf,
    },
    /// An export of every lead in `{data}` to the local bucket folder.
    Export {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        format: String,
    },
    /// Process start to first handled invocation of a Lambda binary, through a local
    /// runtime API that serves `event`.
    LambdaStart {
        #[arg(long)]
        bin: PathBuf,
        #[arg(long)]
        event: PathBuf,
    },
    /// A webhook receiver on loopback (its URL written to `url_file`) that prints how many
    /// events arrived and how fast once they stop.
    Receiver {
        #[arg(long)]
        url_file: PathBuf,
        #[arg(long, default_value_t = 600)]
        give_up_secs: u64,
    },
}

fn main() {
    let cli = Cli::parse();
    let out = match cli.cmd {
        Cmd::GenCsv {
            rows,
            out,
            start,
            retitled,
            created_over_days,
        } => generate::csv(start..start + rows, retitled, created_over_days, &out),
        Cmd::GenXlsx { rows, columns, out } => generate::xlsx(rows, columns, &out),
        Cmd::Pipeline { file } => measure::pipeline(&file),
        Cmd::CsvRaw { file } => measure::csv_raw(&file),
        Cmd::CalamineRaw { file } => measure::calamine_raw(&file),
        Cmd::Seed { rows, data } => measure::seed(rows, &data),
        Cmd::Export { data, format } => measure::export(&data, &format),
        Cmd::LambdaStart { bin, event } => lambda::start(&bin, &event),
        Cmd::Receiver {
            url_file,
            give_up_secs,
        } => receiver::run(&url_file, give_up_secs),
    };
    match out {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("leadgate-bench: {e}");
            std::process::exit(1);
        }
    }
}
