//! `airlock policy test CASES.yaml [--config FILE]`: evaluates each case's request against the
//! config offline, with the code the server decides with (`airlock_core::evaluation`), and
//! fails when any outcome differs from the case's `expect`.

use airlock_core::Config;
use airlock_core::evaluation::evaluate;
use airlock_core::policy::cases::{self, Case};
use anyhow::{Context, bail};

/// The config named by `--config`, else `AIRLOCK_CONFIG`, else the built-in example; with where it came from.
pub fn load_config(file: Option<&str>) -> anyhow::Result<(Config, String)> {
    let file = file.map(String::from).or_else(|| std::env::var("AIRLOCK_CONFIG").ok().filter(|f| !f.is_empty()));
    let (text, source) = match file {
        Some(file) => (std::fs::read_to_string(&file).with_context(|| format!("cannot read {file}"))?, file),
        None => (airlock_core::config::EXAMPLE_CONFIG.to_string(), "the built-in example config".into()),
    };
    let config = Config::from_yaml(&text).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    Ok((config, source))
}

/// The value of `--name VALUE` in `args`, and the other arguments.
pub fn take_flag<'a>(args: &[&'a str], name: &str) -> anyhow::Result<(Option<&'a str>, Vec<&'a str>)> {
    let mut value = None;
    let mut rest = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if let Some(v) = arg.strip_prefix(name).and_then(|v| v.strip_prefix('=')) {
            value = Some(v);
        } else if *arg == name {
            value = Some(*args.next().with_context(|| format!("{name} needs a value"))?);
        } else {
            rest.push(*arg);
        }
    }
    Ok((value, rest))
}

/// `airlock policy test` with its arguments after `test`.
pub fn run(args: &[&str]) -> anyhow::Result<()> {
    let (config_file, rest) = take_flag(args, "--config")?;
    let [file] = rest[..] else { bail!("usage: airlock policy test CASES.yaml [--config FILE]") };
    let (config, source) = load_config(config_file)?;
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
    let cases = cases::parse(&text).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    println!("{file}: {} cases against {source}", cases.len());
    let failed = cases.iter().filter(|case| !run_case(&config, file, case)).count();
    let passed = cases.len() - failed;
    if failed > 0 {
        bail!("{failed} of {} cases failed ({passed} passed)", cases.len());
    }
    println!("{} cases passed", cases.len());
    Ok(())
}

/// Evaluates one case and prints it: PASS, or FAIL with each difference. True when it passed.
fn run_case(config: &Config, file: &str, case: &Case) -> bool {
    let evaluation = evaluate(config, &case.identity(config), &case.groups, &case.input, chrono::Utc::now());
    let mismatches = cases::check(&case.expect, &evaluation.outcome);
    let place = case.line.map(|l| format!(" ({file}:{l})")).unwrap_or_default();
    if mismatches.is_empty() {
        println!("PASS  {}: {}", case.name, cases::describe(&evaluation.outcome));
    } else {
        println!("FAIL  {}{place}", case.name);
        for m in &mismatches {
            println!("      {}: expected {}", m.what, m.expected);
            println!("      {}       got {}", " ".repeat(m.what.len()), m.got);
        }
    }
    for e in &evaluation.rule_errors {
        println!(
            "      note: {} did not evaluate for target {} (counted as no match): {}",
            e.rule, e.target, e.message
        );
    }
    mismatches.is_empty()
}
