//! Progress of long CLI work (imports, exports): on a terminal, a bar with the rows done,
//! rows/s and the time left; otherwise plain lines on stderr, one at most every 2 s and one at
//! each change of phase, so a cron job's or a CI log stays readable. stdout is kept for the
//! result.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

const LINE_EVERY: Duration = Duration::from_secs(2);

pub struct Progress {
    label: String,
    bar: Option<ProgressBar>,
    phase: String,
    /// When this phase was first seen, and the rows done then: the rate is counted from there.
    phase_started: Instant,
    phase_first: u64,
    last_line: Option<Instant>,
}

impl Progress {
    /// A bar when stderr is a terminal, plain lines when it is not.
    pub fn new(label: impl Into<String>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            label: label.into(),
            bar,
            phase: String::new(),
            phase_started: Instant::now(),
            phase_first: 0,
            last_line: None,
        }
    }

    /// `done` of `total` rows (when known) in `phase`.
    pub fn update(&mut self, phase: &str, done: u64, total: Option<u64>) {
        let new_phase = phase != self.phase;
        if new_phase {
            self.phase = phase.to_owned();
            self.phase_started = Instant::now();
            self.phase_first = done;
        }
        if let Some(bar) = &self.bar {
            if new_phase {
                bar.reset();
                let template = if total.is_some() {
                    "{msg} [{bar:30}] {human_pos}/{human_len} rows, {per_sec}, {eta} left"
                } else {
                    "{spinner} {msg} {human_pos} rows, {per_sec}"
                };
                bar.set_style(
                    ProgressStyle::with_template(template)
                        .expect("the templates are valid")
                        .progress_chars("=> "),
                );
                bar.set_message(format!("{} {phase}", self.label));
            }
            bar.set_length(total.unwrap_or(0));
            bar.set_position(done);
            return;
        }
        let due = self.last_line.is_none_or(|t| t.elapsed() >= LINE_EVERY);
        if new_phase || due {
            self.last_line = Some(Instant::now());
            eprintln!("{}", self.line(done, total));
        }
    }

    /// One plain progress line: phase, rows, and once there is a rate to tell (rows done
    /// since the phase was first seen, over a second at least), the rate and the time left.
    fn line(&self, done: u64, total: Option<u64>) -> String {
        let secs = self.phase_started.elapsed().as_secs_f64();
        let rate = (secs >= 1.0).then(|| done.saturating_sub(self.phase_first) as f64 / secs);
        let mut out = format!("{} {}: {done}", self.label, self.phase);
        if let Some(t) = total {
            out.push_str(&format!("/{t}"));
        }
        out.push_str(" rows");
        if let Some(r) = rate.filter(|r| *r > 0.0) {
            out.push_str(&format!(", {r:.0} rows/s"));
            if let Some(t) = total {
                out.push_str(&format!(", ETA {:.0} s", t.saturating_sub(done) as f64 / r));
            }
        }
        out
    }

    /// Ends the bar (or the lines) with a last line.
    pub fn finish(&mut self, last: &str) {
        match self.bar.take() {
            Some(bar) => bar.finish_with_message(format!("{} {last}", self.label)),
            None => eprintln!("{} {last}", self.label),
        }
    }
}
