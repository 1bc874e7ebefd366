//! A tiny ResNet (BatchNorm, residual blocks, global average pooling; `models::tiny_resnet`)
//! learns handwritten digits with augmentation and a one-cycle schedule.
//!
//! ```text
//! cargo run --release --example resnet                        # the embedded 8,004 / 1,996 digits
//! cargo run --release --example resnet -- --data-dir ../shared/data/mnist-full --epochs 6
//! cargo run --release --example resnet -- --resume runs/resnet/checkpoint.ferrite --epochs 10
//! cargo run --release --example resnet -- eval --checkpoint runs/resnet/model.safetensors
//! ```
//!
//! The recipe: random affine augmentation (rotation up to 10°, shifts up to 10%, scale
//! 0.9-1.1; no flips for digits), SGD with Nesterov momentum and weight decay 5e-4 on the
//! conv and linear weights only (`weight_decay_groups`: none on biases and batch-norm
//! parameters), and `OneCycleLR` to a peak learning rate of 0.1 with momentum cycled
//! 0.95 -> 0.85 -> 0.95, stepped after every batch. The same recipe in PyTorch is
//! `examples/resnet/torch_recipe.py`.
//!
//! Training prints the model summary, a progress bar per epoch, one line per epoch, and
//! last `test accuracy: NN.NN%`. It writes into `--out` (default `runs/resnet`):
//! `checkpoint.ferrite` after every epoch (parameters, batch-norm statistics, optimizer
//! state, epoch, history), `model.safetensors` (PyTorch names: it loads with
//! `model.load_state_dict(load_file(...), strict=True)` into the W8 TinyResNet),
//! `conv1_filters.png` (the stem's 16 filters) and `curves.png`. The pictures are drawn by
//! the `mnist` example's `plots` module, shared as is.

/// The `mnist` example's modules that this one shares.
#[path = "../mnist"]
mod mnist {
    #[allow(dead_code)]
    pub mod plots;
}

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use ferrite::nn::checkpoint::{
    Checkpoint, Strict, load_safetensors, load_state_dict, save_safetensors, state_dict,
};
use ferrite::nn::data::transforms::{Compose, Normalize as Standardize, RandomAffine};
use ferrite::nn::data::{DataLoader, Mnist, MnistKind, Normalize as Pixels, Split};
use ferrite::nn::metrics::{ConfusionMatrix, RunningMean};
use ferrite::nn::models::tiny_resnet;
use ferrite::nn::optim::{OneCycleConfig, OptimizerState};
use ferrite::nn::summary;
use ferrite::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};

use mnist::plots::{self, EpochStats};

type Fallible<T> = Result<T, Box<dyn Error>>;

#[derive(Parser, Debug)]
#[command(about = "Train the tiny ResNet on MNIST-format digits with ferrite, or evaluate it")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    train: TrainArgs,
}

#[derive(clap::Args, Debug)]
struct TrainArgs {
    /// Directory with MNIST-format files (train-images-idx3-ubyte[.gz], ...: MNIST,
    /// Fashion-MNIST, KMNIST); default: the 8,004 / 1,996 digits embedded in ferrite.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Number of epochs (the length of the one-cycle schedule; counts those of a resumed run).
    #[arg(long, default_value_t = 10)]
    epochs: u64,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Peak learning rate of the one-cycle schedule.
    #[arg(long, default_value_t = 0.1)]
    lr: f64,
    /// Weight decay of the conv and linear weights (none on biases and batch norms).
    #[arg(long, default_value_t = 5e-4)]
    weight_decay: f64,
    /// Seed of the initial weights, the shuffling and the augmentation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Where to write the checkpoint, the safetensors file and the pictures.
    #[arg(long, default_value = "runs/resnet")]
    out: PathBuf,
    /// Continue training from this checkpoint (same --epochs, so the schedule continues).
    #[arg(long)]
    resume: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Accuracy and confusion matrix of a checkpoint (ferrite or safetensors) on a test set.
    Eval {
        /// A `.ferrite` checkpoint or a `.safetensors` file (also one saved by PyTorch).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Directory with MNIST-format test files; default: the embedded test split.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => train(&cli.train),
        Some(Command::Eval {
            checkpoint,
            data_dir,
        }) => eval(&checkpoint, data_dir.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The embedded digits or a directory of MNIST-format files, with pixels scaled as given.
fn load_split(dir: Option<&Path>, split: Split, pixels: Pixels) -> Fallible<Mnist> {
    let data = match dir {
        Some(d) => Mnist::from_dir(d, split)?,
        None => Mnist::embedded(split)?,
    };
    if data.image_size() != [28, 28] {
        return Err(format!(
            "tiny_resnet wants 28x28 images, found {:?}",
            data.image_size()
        )
        .into());
    }
    Ok(data.with_normalize(pixels))
}

/// Pixels in [0, 1] (the background 0, what the affine transform fills in), moved, rotated
/// and scaled, then standardised as the test images are (`Pixels::MNIST`).
fn augmentation() -> Fallible<Compose> {
    Ok(Compose::new()
        .then(
            RandomAffine::new(10.0)?
                .with_translate([0.1, 0.1])?
                .with_scale([0.9, 1.1])?,
        )
        .then(Standardize::new(vec![0.1307], vec![0.3081])?))
}

/// The model, its optimizer and schedule, built from the seed.
struct Trainer {
    model: Sequential,
    optimizer: Sgd,
    schedule: OneCycleLR,
}

fn build(args: &TrainArgs, steps_per_epoch: u64) -> Fallible<Trainer> {
    manual_seed(args.seed);
    let model = tiny_resnet::<f32>();
    let groups = weight_decay_groups(model.named_parameters(), args.weight_decay);
    let config = SgdConfig::new(args.lr)
        .with_momentum(0.9)
        .with_nesterov(true);
    let mut optimizer = Sgd::with_groups(groups, config)?;
    let schedule = OneCycleLR::new(
        &mut optimizer,
        OneCycleConfig::with_epochs(args.lr, args.epochs, steps_per_epoch),
    )?;
    Ok(Trainer {
        model,
        optimizer,
        schedule,
    })
}

fn train(args: &TrainArgs) -> Fallible<()> {
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()?;
    }
    let train_set = load_split(args.data_dir.as_deref(), Split::Train, Pixels::NONE)?;
    let test_set = load_split(args.data_dir.as_deref(), Split::Test, Pixels::MNIST)?;
    let loader = DataLoader::new(&train_set)
        .with_batch_size(args.batch_size)
        .with_shuffle(true)
        .with_seed(args.seed)
        .with_transform(augmentation()?)
        .with_prefetch(2);
    let mut t = build(args, loader.len() as u64)?;
    let (start_epoch, mut history) = resume(args, &mut t, loader.len() as u64)?;

    println!("{}", summary(&t.model, &[args.batch_size, 1, 28, 28])?);
    println!(
        "data: {} train / {} test {}; {} epochs, batch {}, SGD nesterov, one-cycle lr peak {}, \
         weight decay {}, seed {}",
        train_set.len(),
        test_set.len(),
        train_set.kind().name(),
        args.epochs,
        args.batch_size,
        args.lr,
        args.weight_decay,
        args.seed
    );
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let started_all = Instant::now();
    for epoch in start_epoch..args.epochs {
        let started = Instant::now();
        let (loss, train_accuracy) = run_epoch(&mut t, &loader, epoch, args.epochs)?;
        let test_accuracy = accuracy(&t.model, &test_set)?;
        let stats = EpochStats {
            epoch: epoch as usize + 1,
            train_loss: loss,
            train_accuracy,
            test_accuracy,
        };
        println!(
            "epoch {:>2}/{}: train loss {:.4}, train accuracy {:.2}%, test accuracy {:.2}%, {:.1}s",
            stats.epoch,
            args.epochs,
            loss,
            100.0 * train_accuracy,
            100.0 * test_accuracy,
            started.elapsed().as_secs_f64()
        );
        history.push(stats);
        save_checkpoint(
            &t,
            epoch + 1,
            &history,
            &args.out.join("checkpoint.ferrite"),
        )?;
    }
    finish(args, &t, &test_set, &history, started_all)
}

/// The safetensors file, the pictures and the last line.
fn finish(
    args: &TrainArgs,
    t: &Trainer,
    test_set: &Mnist,
    history: &[EpochStats],
    started: Instant,
) -> Fallible<()> {
    save_safetensors(&state_dict(&t.model), args.out.join("model.safetensors"))?;
    let conv1 = t.model.get("conv1").ok_or("the model has no conv1")?;
    plots::save_filters_png(
        &conv1.parameters()[0].value(),
        &args.out.join("conv1_filters.png"),
    )?;
    if !history.is_empty() {
        plots::save_curves_png(history, &args.out.join("curves.png"))?;
    }
    println!(
        "wrote {} ({:.1}s of training in this run)",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    let last = match history.last() {
        Some(s) => s.test_accuracy,
        None => accuracy(&t.model, test_set)?,
    };
    println!("test accuracy: {:.2}%", 100.0 * last);
    Ok(())
}

/// One pass over the training set in training mode, batches prepared on a background thread;
/// returns the mean loss and the training accuracy (on augmented images).
fn run_epoch(
    t: &mut Trainer,
    loader: &DataLoader<&Mnist>,
    epoch: u64,
    epochs: u64,
) -> Fallible<(f64, f64)> {
    t.model.train();
    let bar = progress_bar(loader.len() as u64, epoch + 1, epochs);
    let started = Instant::now();
    let options = CrossEntropyOptions::default();
    let mut loss_meter = RunningMean::new();
    let mut confusion = ConfusionMatrix::new(10);
    std::thread::scope(|scope| -> Fallible<()> {
        for batch in loader.prefetch_epoch::<f32>(epoch, scope) {
            let batch = batch?;
            let logits = t.model.forward(&Var::new(batch.images))?;
            let loss = cross_entropy(&logits, &Indices::from_classes(&batch.labels), &options)?;
            let value = f64::from(loss.item()?);
            if !value.is_finite() {
                bar.abandon();
                return Err(format!(
                    "the loss became {value} in epoch {}: try a smaller --lr",
                    epoch + 1
                )
                .into());
            }
            t.optimizer.zero_grad();
            loss.backward()?;
            t.optimizer.step()?;
            t.schedule.step(&mut t.optimizer)?;
            loss_meter.update(value, batch.labels.len());
            confusion.update_from_logits(&logits.value(), &batch.labels)?;
            bar.inc(1);
            let rate = loss_meter.count() as f64 / started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "loss {:.4}  {rate:.0} samples/s",
                loss_meter.mean()
            ));
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok((loss_meter.mean(), confusion.accuracy()))
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

/// The confusion matrix of `model` (in evaluation mode) on `data`.
fn confusion(model: &Sequential, data: &Mnist) -> Fallible<ConfusionMatrix> {
    let was_training = model.is_training();
    model.eval();
    let mut confusion = ConfusionMatrix::new(10);
    for batch in DataLoader::new(data).with_batch_size(500).epoch(0) {
        let batch = batch?;
        let logits = no_grad(|| model.forward(&Var::new(batch.images)))?;
        confusion.update_from_logits(&logits.value(), &batch.labels)?;
    }
    if was_training {
        model.train();
    }
    Ok(confusion)
}

fn accuracy(model: &Sequential, data: &Mnist) -> Fallible<f64> {
    Ok(confusion(model, data)?.accuracy())
}

/// Parameters, batch-norm statistics, optimizer state, epoch and history.
fn save_checkpoint(t: &Trainer, epoch: u64, history: &[EpochStats], path: &Path) -> Fallible<()> {
    let mut ckpt = Checkpoint::from_model(&t.model);
    ckpt.epoch = epoch;
    ckpt.set_optimizer_state(&t.optimizer.state())?;
    ckpt.metadata
        .insert("history".into(), EpochStats::format_history(history));
    ckpt.save(path)?;
    Ok(())
}

/// With `--resume`: the checkpoint's weights and optimizer state, the schedule moved to
/// where it was; returns the epoch to start from and the history so far.
fn resume(
    args: &TrainArgs,
    t: &mut Trainer,
    steps_per_epoch: u64,
) -> Fallible<(u64, Vec<EpochStats>)> {
    let Some(path) = &args.resume else {
        return Ok((0, Vec::new()));
    };
    let ckpt = Checkpoint::<f32>::load(path)?;
    ckpt.load_into(&t.model, Strict::Yes)?;
    // The schedule is a function of the step count: replay it, then restore the
    // optimizer's own state (momentum buffers, and the learning rate it had).
    for _ in 0..ckpt.epoch * steps_per_epoch {
        t.schedule.step(&mut t.optimizer)?;
    }
    if let Some(state) = ckpt.optimizer_state::<OptimizerState>()? {
        t.optimizer.load_state(state)?;
    }
    let history =
        EpochStats::parse_history(ckpt.metadata.get("history").map_or("", String::as_str))?;
    println!("resumed from {} after epoch {}", path.display(), ckpt.epoch);
    Ok((ckpt.epoch, history))
}

/// A tiny_resnet with the weights of a ferrite checkpoint or a safetensors file.
fn load_model(path: &Path) -> Fallible<Sequential> {
    let state = if path.extension().is_some_and(|e| e == "safetensors") {
        load_safetensors::<f32>(path)?
    } else {
        Checkpoint::<f32>::load(path)?.params
    };
    let model = tiny_resnet::<f32>();
    load_state_dict(&model, &state, Strict::Yes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(model)
}

fn eval(checkpoint: &Path, data_dir: Option<&Path>) -> Fallible<()> {
    let model = load_model(checkpoint)?;
    let data = load_split(data_dir, Split::Test, Pixels::MNIST)?;
    let confusion = confusion(&model, &data)?;
    println!("confusion matrix (rows: true class, columns: predicted class)");
    print!("{confusion}");
    if data.kind() != MnistKind::Mnist {
        println!("{}", confusion.per_class_table(data.classes()));
    }
    println!(
        "test accuracy: {:.2}% ({} of {})",
        100.0 * confusion.accuracy(),
        confusion.correct(),
        data.len()
    );
    Ok(())
}
