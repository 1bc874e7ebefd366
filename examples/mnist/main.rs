//! The toy digit classifier: SmallCnn (two conv1-style layers and two linear layers) learns
//! to read handwritten digits from the 10,000 MNIST digits shipped in the repo.
//!
//! ```text
//! cargo run --release --example mnist                       # train with the defaults
//! cargo run --release --example mnist -- --epochs 2 --optimizer adam
//! cargo run --release --example mnist -- --data-dir ~/mnist # any dir with the standard MNIST files
//! cargo run --release --example mnist -- --resume runs/mnist/checkpoint.ferrite --epochs 8
//! cargo run --release --example mnist -- eval --checkpoint runs/mnist/model.safetensors
//! cargo run --release --example mnist -- eval --checkpoint model.pt   # torch.save(model.state_dict())
//! cargo run --release --example mnist -- predict --checkpoint runs/mnist/checkpoint.ferrite my_digit.png
//! ```
//!
//! Training prints the model summary, a progress bar per epoch, then one line per epoch
//! (train loss, train accuracy, test accuracy, time); its last line is
//! `final test accuracy: NN.NN%` (about 98% with the defaults). It writes into `--out`
//! (default `runs/mnist`): `checkpoint.ferrite` (parameters, optimizer state, epoch,
//! history), `model.safetensors` (PyTorch names and layouts), `conv1_filters.png`,
//! `conv1_feature_maps.png` and `curves.png`.

mod images;
mod plots;

/// A fresh empty directory under the system's temporary directory, for the unit tests of
/// this example's modules.
#[cfg(test)]
fn test_dir(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ferrite-mnist-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use ferrite::nn::checkpoint::{Checkpoint, Strict, load_safetensors, load_torch, save_safetensors};
use ferrite::nn::data::{DataLoader, Mnist, MnistKind, Normalize, Split};
use ferrite::nn::loss::{CrossEntropyOptions, cross_entropy};
use ferrite::nn::metrics::ConfusionMatrix;
use ferrite::nn::models::small_cnn;
use ferrite::nn::optim::{Adam, AdamConfig, Optimizer, OptimizerState, Sgd, SgdConfig};
use ferrite::nn::summary;
use ferrite::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};

use plots::EpochStats;

type Fallible<T> = Result<T, Box<dyn Error>>;

#[derive(Parser, Debug)]
#[command(
    about = "Train SmallCnn on MNIST digits with ferrite, evaluate it, or read your own digits"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    train: TrainArgs,
}

#[derive(clap::Args, Debug)]
struct TrainArgs {
    /// Directory with the standard MNIST files (train-images-idx3-ubyte[.gz], ...);
    /// default: the 8,004 / 1,996 digits embedded in ferrite.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Number of epochs (in all, counting those of a resumed run).
    #[arg(long, default_value_t = 5)]
    epochs: u64,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Learning rate (default: 0.02 for sgd, 0.001 for adam).
    #[arg(long)]
    lr: Option<f64>,
    /// Optimizer: SGD with momentum 0.9, or Adam.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Sgd)]
    optimizer: OptimizerKind,
    /// Seed of the initial weights and of the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Where to write the checkpoint, the safetensors file and the pictures.
    #[arg(long, default_value = "runs/mnist")]
    out: PathBuf,
    /// Continue training from this checkpoint.
    #[arg(long)]
    resume: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Accuracy and confusion matrix of a checkpoint (ferrite or safetensors) on a data set.
    Eval {
        /// A `.ferrite` checkpoint, a `.safetensors` file (also one saved by PyTorch) or a
        /// PyTorch `.pt` / `.pth` state dict.
        #[arg(long)]
        checkpoint: PathBuf,
        /// Directory with the standard MNIST test files; default: the embedded test split.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Top-3 classes of your own digit pictures (PNG or JPEG, any size).
    Predict {
        /// A `.ferrite` checkpoint, a `.safetensors` file or a PyTorch `.pt` / `.pth` file.
        #[arg(long)]
        checkpoint: PathBuf,
        /// One or more image files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum OptimizerKind {
    Sgd,
    Adam,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => train(&cli.train),
        Some(Command::Eval {
            checkpoint,
            data_dir,
        }) => eval(&checkpoint, data_dir.as_deref()),
        Some(Command::Predict { checkpoint, images }) => predict(&checkpoint, &images),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The embedded digits, or a directory of MNIST-format files (MNIST, Fashion-MNIST,
/// KMNIST: see `MnistKind` for how the classes are named); names other classes than digits.
fn load_split(dir: Option<&Path>, split: Split) -> Fallible<Mnist> {
    let data = match dir {
        Some(d) => Mnist::from_dir(d, split)?,
        None => Mnist::embedded(split)?,
    };
    if data.kind() != MnistKind::Mnist && split == Split::Test {
        println!(
            "{}: classes {}",
            data.kind().name(),
            data.classes()
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{i} {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(data)
}

fn train(args: &TrainArgs) -> Fallible<()> {
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()?;
    }
    let (train_set, test_set) = load_train_and_test(args.data_dir.as_deref())?;
    let image_size = train_set.image_size();
    let [h, w] = image_size;
    let (model, mut optimizer, lr) = build_model_and_optimizer(args, image_size)?;
    let (start_epoch, mut history) = resume(args, &model, optimizer.as_mut())?;

    println!("{}", summary(&model, &[args.batch_size, 1, h, w])?);
    println!(
        "data: {} train / {} test digits of {h}x{w}; {} epochs, batch {}, {:?} lr {lr}, seed {}",
        train_set.len(),
        test_set.len(),
        args.epochs,
        args.batch_size,
        args.optimizer,
        args.seed
    );

    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let checkpoint_path = args.out.join("checkpoint.ferrite");
    let loader = DataLoader::new(&train_set)
        .with_batch_size(args.batch_size)
        .with_shuffle(true)
        .with_seed(args.seed);

    for epoch in start_epoch..args.epochs {
        let started = Instant::now();
        let run = EpochRun {
            epoch,
            epochs: args.epochs,
            checkpoint_path: &checkpoint_path,
        };
        let totals = run_epoch(&model, optimizer.as_mut(), &loader, &run)?;
        let stats = evaluate_and_log(&model, &test_set, &run, &totals, started)?;
        history.push(stats);
        save_checkpoint(&model, optimizer.as_ref(), &run, image_size, &history)?;
    }

    save_safetensors(
        &ferrite::nn::checkpoint::state_dict(&model),
        args.out.join("model.safetensors"),
    )?;
    write_pictures(&model, &test_set, &history, &args.out)?;
    println!("wrote {}", args.out.display());
    let last = history
        .last()
        .map(|s| s.test_accuracy)
        .unwrap_or(accuracy(&model, &test_set)?);
    println!("final test accuracy: {:.2}%", 100.0 * last);
    Ok(())
}

/// The train and test splits, which must have images of the same size.
fn load_train_and_test(dir: Option<&Path>) -> Fallible<(Mnist, Mnist)> {
    let train_set = load_split(dir, Split::Train)?;
    let test_set = load_split(dir, Split::Test)?;
    if test_set.image_size() != train_set.image_size() {
        return Err(format!(
            "train images are {:?} but test images are {:?}",
            train_set.image_size(),
            test_set.image_size()
        )
        .into());
    }
    Ok((train_set, test_set))
}

/// SmallCnn with seeded initial weights, its optimizer, and the learning rate in use.
fn build_model_and_optimizer(
    args: &TrainArgs,
    image_size: [usize; 2],
) -> Fallible<(Sequential, Box<dyn Optimizer>, f64)> {
    manual_seed(args.seed);
    let model = small_cnn::<f32>(image_size)?;
    let lr = args.lr.unwrap_or(match args.optimizer {
        OptimizerKind::Sgd => 0.02,
        OptimizerKind::Adam => 0.001,
    });
    let optimizer: Box<dyn Optimizer> = match args.optimizer {
        OptimizerKind::Sgd => Box::new(Sgd::new(
            model.parameters(),
            SgdConfig::new(lr).with_momentum(0.9),
        )?),
        OptimizerKind::Adam => Box::new(Adam::new(model.parameters(), AdamConfig::new(lr))?),
    };
    Ok((model, optimizer, lr))
}

/// With `--resume`: loads the checkpoint into the model and the optimizer and returns the
/// epoch to start from and the history so far; otherwise epoch 0 and no history.
fn resume(
    args: &TrainArgs,
    model: &Sequential,
    optimizer: &mut dyn Optimizer,
) -> Fallible<(u64, Vec<EpochStats>)> {
    let Some(path) = &args.resume else {
        return Ok((0, Vec::new()));
    };
    let ckpt = Checkpoint::<f32>::load(path)?;
    ckpt.load_into(model, Strict::Yes)?;
    if let Some(state) = ckpt.optimizer_state::<OptimizerState>()? {
        optimizer.load_state(state)?;
    }
    let start_epoch = ckpt.epoch;
    let history = EpochStats::parse_history(
        ckpt.metadata
            .get("history")
            .map(String::as_str)
            .unwrap_or(""),
    )?;
    println!("resumed from {} after epoch {start_epoch}", path.display());
    Ok((start_epoch, history))
}

/// Which epoch is running (counted from 0), out of how many, and where its checkpoint goes.
struct EpochRun<'a> {
    epoch: u64,
    epochs: u64,
    checkpoint_path: &'a Path,
}

/// What one pass over the training set adds up.
struct EpochTotals {
    loss_sum: f64,
    correct: usize,
    seen: usize,
}

/// One pass over the training set, with a progress bar. A loss that is not finite stops
/// training with an error naming the op that produced it.
fn run_epoch(
    model: &Sequential,
    optimizer: &mut dyn Optimizer,
    loader: &DataLoader<&Mnist>,
    run: &EpochRun,
) -> Fallible<EpochTotals> {
    let started = Instant::now();
    let options = CrossEntropyOptions::default();
    let bar = progress_bar(loader.len() as u64, run.epoch + 1, run.epochs);
    let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
    for batch in loader.epoch(run.epoch) {
        let batch = batch?;
        let x = Var::new(batch.images);
        let logits = model.forward(&x)?;
        let loss = cross_entropy(&logits, &Indices::from_classes(&batch.labels), &options)?;
        let loss_value = loss.item()?;
        if !loss_value.is_finite() {
            bar.abandon();
            // Replay the batch in anomaly mode to name the first op that made a NaN/inf.
            let culprit = detect_anomaly(|| {
                cross_entropy(
                    &model.forward(&x)?,
                    &Indices::from_classes(&batch.labels),
                    &options,
                )?
                .backward()
            })
            .err()
            .map_or_else(|| "no single op".to_string(), |e| e.to_string());
            let kept = if run.checkpoint_path.exists() {
                format!(
                    "the last good checkpoint is {}",
                    run.checkpoint_path.display()
                )
            } else {
                "no checkpoint was written yet".to_string()
            };
            return Err(format!(
                "the loss became {loss_value} in epoch {} after {seen} samples: training diverged \
                 (try a smaller --lr); {culprit}; {kept}",
                run.epoch + 1
            )
            .into());
        }
        optimizer.zero_grad();
        loss.backward()?;
        optimizer.step()?;

        let n = batch.labels.len();
        loss_sum += loss_value as f64 * n as f64;
        correct += count_correct(&logits.value(), &batch.labels)?;
        seen += n;
        bar.inc(1);
        let rate = seen as f64 / started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!(
            "loss {:.4}  {rate:.0} samples/s",
            loss_sum / seen as f64
        ));
    }
    bar.finish_and_clear();
    Ok(EpochTotals {
        loss_sum,
        correct,
        seen,
    })
}

/// Test accuracy after an epoch, and the epoch's line of the log.
fn evaluate_and_log(
    model: &Sequential,
    test_set: &Mnist,
    run: &EpochRun,
    totals: &EpochTotals,
    started: Instant,
) -> Fallible<EpochStats> {
    let test_accuracy = accuracy(model, test_set)?;
    let seen = totals.seen;
    let stats = EpochStats {
        epoch: run.epoch as usize + 1,
        train_loss: totals.loss_sum / seen.max(1) as f64,
        train_accuracy: totals.correct as f64 / seen.max(1) as f64,
        test_accuracy,
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "epoch {:>2}/{}: train loss {:.4}, train accuracy {:.2}%, test accuracy {:.2}%, {secs:.1}s ({:.0} samples/s)",
        stats.epoch,
        run.epochs,
        stats.train_loss,
        100.0 * stats.train_accuracy,
        100.0 * stats.test_accuracy,
        seen as f64 / secs
    );
    Ok(stats)
}

/// Parameters, optimizer state, epoch and history, written after every epoch.
fn save_checkpoint(
    model: &Sequential,
    optimizer: &dyn Optimizer,
    run: &EpochRun,
    [h, w]: [usize; 2],
    history: &[EpochStats],
) -> Fallible<()> {
    let mut ckpt = Checkpoint::from_model(model);
    ckpt.epoch = run.epoch + 1;
    ckpt.set_optimizer_state(&optimizer.state())?;
    ckpt.metadata
        .insert("image_size".into(), format!("{h}x{w}"));
    ckpt.metadata
        .insert("history".into(), EpochStats::format_history(history));
    ckpt.save(run.checkpoint_path)?;
    Ok(())
}

fn progress_bar(batches: u64, epoch: u64, epochs: u64) -> ProgressBar {
    let bar = ProgressBar::new(batches);
    let style = ProgressStyle::with_template(
        "epoch {prefix} [{bar:30}] {pos}/{len} batches, ETA {eta} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}

/// How many rows of `logits` have their largest value at the label.
fn count_correct(logits: &Tensor, labels: &[usize]) -> Fallible<usize> {
    let predicted = logits.argmax(1, false)?;
    Ok(predicted
        .as_array()
        .iter()
        .zip(labels)
        .filter(|&(&p, &l)| p as usize == l)
        .count())
}

/// Predicted class of every sample of `data`, in order.
fn predictions(model: &dyn Module, data: &Mnist) -> Fallible<Vec<usize>> {
    let mut out = Vec::with_capacity(data.len());
    for batch in DataLoader::new(data).with_batch_size(500).epoch(0) {
        let batch = batch?;
        let logits = no_grad(|| model.forward(&Var::new(batch.images)))?;
        out.extend(
            logits
                .value()
                .argmax(1, false)?
                .as_array()
                .iter()
                .map(|&p| p as usize),
        );
    }
    Ok(out)
}

fn accuracy(model: &dyn Module, data: &Mnist) -> Fallible<f64> {
    let predicted = predictions(model, data)?;
    let correct = predicted
        .iter()
        .zip(data.labels())
        .filter(|&(&p, &l)| p == l as usize)
        .count();
    Ok(correct as f64 / data.len().max(1) as f64)
}

/// The learned conv1 filters, conv1's feature maps for the first test digit, the curves.
fn write_pictures(
    model: &ferrite::nn::Sequential,
    test_set: &Mnist,
    history: &[EpochStats],
    out: &Path,
) -> Fallible<()> {
    let conv1 = model.get("conv1").ok_or("the model has no conv1")?;
    let weight = conv1.parameters()[0].value();
    plots::save_filters_png(&weight, &out.join("conv1_filters.png"))?;

    let sample = test_set.get(0)?;
    let [h, w] = test_set.image_size();
    let x = Var::new(sample.features.reshape(&[1, 1, h as isize, w as isize])?);
    // A forward hook keeps conv1's output while the whole model classifies the digit, as
    // PyTorch's `register_forward_hook` would; the maps drawn are after conv1's ReLU.
    let kept = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot = std::sync::Arc::clone(&kept);
    let handle = conv1.register_forward_hook(move |_, y| {
        *slot
            .lock()
            .map_err(|_| TensorError::invalid("hook", "poisoned lock"))? = Some(y.value());
        Ok(None)
    })?;
    let ran = no_grad(|| model.forward(&x));
    handle.remove();
    ran?;
    let conv1_out = kept.lock().map_err(|_| "poisoned lock")?.take();
    let maps = conv1_out
        .ok_or("the forward hook on conv1 did not run")?
        .relu();
    let maps = maps.reshape(&[maps.shape()[1] as isize, h as isize, w as isize])?;
    let pixels: Vec<f32> = test_set
        .image(0)
        .ok_or("the test set is empty")?
        .iter()
        .map(|&p| p as f32 / 255.0)
        .collect();
    plots::save_feature_maps_png(
        &pixels,
        &maps,
        sample.label,
        &out.join("conv1_feature_maps.png"),
    )?;
    if !history.is_empty() {
        plots::save_curves_png(history, &out.join("curves.png"))?;
    }
    Ok(())
}

/// A SmallCnn with the weights of a ferrite checkpoint, a safetensors file or a PyTorch
/// `.pt` / `.pth` file (`torch.save(model.state_dict(), path)`).
fn load_model(path: &Path) -> Fallible<ferrite::nn::Sequential> {
    let is_safetensors = path.extension().is_some_and(|e| e == "safetensors");
    // PyTorch's torch.save files: by extension, or by the zip magic whatever the name.
    let is_torch = path.extension().is_some_and(|e| e == "pt" || e == "pth")
        || std::fs::File::open(path).is_ok_and(|mut f| {
            let mut magic = [0u8; 4];
            std::io::Read::read_exact(&mut f, &mut magic).is_ok() && &magic == b"PK\x03\x04"
        });
    let (state, image_size) = if is_safetensors || is_torch {
        let state = if is_torch {
            load_torch::<f32>(path)?
        } else {
            load_safetensors::<f32>(path)?
        };
        // fc1 takes 32 * (H/4) * (W/4) inputs: recover a square image size from it.
        let fc1 = state
            .get("fc1.weight")
            .ok_or_else(|| format!("{}: no fc1.weight: not a SmallCnn", path.display()))?;
        let side = ((fc1.shape()[1] / 32) as f64).sqrt() as usize * 4;
        (state, [side, side])
    } else {
        let ckpt = Checkpoint::<f32>::load(path)?;
        let size = ckpt
            .metadata
            .get("image_size")
            .cloned()
            .unwrap_or_else(|| "28x28".into());
        let (h, w) = size
            .split_once('x')
            .ok_or_else(|| format!("{}: bad image_size '{size}'", path.display()))?;
        (ckpt.params, [h.parse()?, w.parse()?])
    };
    let model = small_cnn::<f32>(image_size)?;
    ferrite::nn::checkpoint::load_state_dict(&model, &state, Strict::Yes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(model)
}

fn eval(checkpoint: &Path, data_dir: Option<&Path>) -> Fallible<()> {
    let model = load_model(checkpoint)?;
    let data = load_split(data_dir, Split::Test)?;
    let labels: Vec<usize> = data.labels().iter().map(|&l| usize::from(l)).collect();
    let mut confusion = ConfusionMatrix::new(10);
    confusion.update(&predictions(&model, &data)?, &labels)?;
    let digits = data.kind() == MnistKind::Mnist;
    let (noun, nouns) = if digits {
        ("digit", "digits")
    } else {
        ("class", "images")
    };
    println!("confusion matrix (rows: true {noun}, columns: predicted {noun})");
    print!("{confusion}");
    println!(
        "accuracy: {:.2}% ({} of {} {nouns})",
        100.0 * confusion.accuracy(),
        confusion.correct(),
        data.len()
    );
    if !digits {
        println!("{}", confusion.per_class_table(data.classes()));
    }
    Ok(())
}

fn predict(checkpoint: &Path, paths: &[PathBuf]) -> Fallible<()> {
    let model = load_model(checkpoint)?;
    let normalize = Normalize::MNIST;
    for path in paths {
        let pixels = images::load_digit(path)?;
        let data: Vec<f32> = pixels.iter().map(|&p| normalize.apply(p) as f32).collect();
        let x = Var::new(Tensor::from_vec(data, &[1, 1, 28, 28])?);
        let probs = no_grad(|| model.forward(&x).and_then(|y| y.softmax(1)))?
            .value()
            .to_vec();
        let mut ranked: Vec<(usize, f32)> = probs.into_iter().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top: Vec<String> = ranked
            .iter()
            .take(3)
            .map(|(digit, p)| format!("{digit} ({:.1}%)", 100.0 * p))
            .collect();
        println!("{}: {}", path.display(), top.join(", "));
    }
    Ok(())
}
