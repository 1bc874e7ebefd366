//! A parity trace as written by `examples/parity/record.py` (format in docs/parity.md,
//! "Whole training runs"): the run's settings, every step's batch, loss and module-output
//! digests, and the safetensors files beside `trace.json`.

use std::error::Error;
use std::path::{Path, PathBuf};

use ferrite::nn::checkpoint::{StateDict, load_safetensors};
use ferrite::prelude::*;
use serde_json::Value;

pub type BoxError = Box<dyn Error + Send + Sync>;

/// The optimizer of the recorded run (PyTorch's `SGD` or `AdamW`).
#[derive(Debug, Clone, PartialEq)]
pub enum OptimizerSpec {
    Sgd {
        lr: f64,
        momentum: f64,
        nesterov: bool,
        weight_decay: f64,
    },
    AdamW {
        lr: f64,
        betas: [f64; 2],
        eps: f64,
        weight_decay: f64,
    },
}

/// One recorded step: the sample indices, PyTorch's loss, and per module (in the order
/// PyTorch's forward hooks fired) the digest `[sum, sum |x|, sum w_i x_i]` of its output.
#[derive(Debug, Clone)]
pub struct Step {
    pub batch: Vec<usize>,
    pub loss: f64,
    pub modules: Vec<(String, [f64; 3])>,
}

/// A whole trace, `trace.json` parsed; the safetensors files are read on demand.
#[derive(Debug, Clone)]
pub struct Trace {
    pub dir: PathBuf,
    pub model: String,
    pub dtype: String,
    pub image_size: [usize; 2],
    pub downsample: usize,
    pub optimizer: OptimizerSpec,
    /// `Some(total_steps)` for PyTorch's `OneCycleLR(max_lr = lr, total_steps)`.
    pub one_cycle: Option<u64>,
    pub steps: Vec<Step>,
    /// Steps after which the full state_dict was saved (`params.safetensors`, "s/NAME").
    pub param_steps: Vec<usize>,
    /// Steps whose full module outputs were saved (`outputs.safetensors`, "s/PATH").
    pub outputs_at: Vec<usize>,
    /// The recorder's command line with `OUT_DIR` for its output directory.
    pub command: String,
    /// `--perturb` of the recording as `(step, module)`, if any.
    pub perturb: Option<(usize, String)>,
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, BoxError> {
    v.get(key)
        .ok_or_else(|| format!("trace.json: missing field '{key}'").into())
}

fn num(v: &Value, key: &str) -> Result<f64, BoxError> {
    field(v, key)?
        .as_f64()
        .ok_or_else(|| format!("trace.json: '{key}' is not a number").into())
}

fn uint(v: &Value) -> Result<usize, BoxError> {
    v.as_u64()
        .map(|n| n as usize)
        .ok_or_else(|| format!("trace.json: expected a non-negative integer, found {v}").into())
}

fn uints(v: &Value, key: &str) -> Result<Vec<usize>, BoxError> {
    let list = field(v, key)?.as_array().ok_or("trace.json: not a list")?;
    list.iter().map(uint).collect()
}

fn text(v: &Value, key: &str) -> Result<String, BoxError> {
    Ok(field(v, key)?.as_str().ok_or("not a string")?.to_string())
}

fn parse_optimizer(o: &Value) -> Result<OptimizerSpec, BoxError> {
    let betas = field(o, "betas")?.as_array().ok_or("betas: not a list")?;
    let beta = |i: usize| {
        betas
            .get(i)
            .and_then(Value::as_f64)
            .ok_or("betas: two numbers")
    };
    match text(o, "name")?.as_str() {
        "sgd" => Ok(OptimizerSpec::Sgd {
            lr: num(o, "lr")?,
            momentum: num(o, "momentum")?,
            nesterov: field(o, "nesterov")?.as_bool().ok_or("nesterov: a bool")?,
            weight_decay: num(o, "weight_decay")?,
        }),
        "adamw" => Ok(OptimizerSpec::AdamW {
            lr: num(o, "lr")?,
            betas: [beta(0)?, beta(1)?],
            eps: num(o, "eps")?,
            weight_decay: num(o, "weight_decay")?,
        }),
        other => Err(format!("trace.json: unknown optimizer '{other}'").into()),
    }
}

fn parse_step(s: &Value) -> Result<Step, BoxError> {
    let modules = field(s, "modules")?.as_array().ok_or("modules: a list")?;
    let modules = modules
        .iter()
        .map(|m| {
            let path = m.get(0).and_then(Value::as_str).ok_or("module: a path")?;
            let d = m
                .get(1)
                .and_then(Value::as_array)
                .ok_or("module: a digest")?;
            let d: Vec<f64> = d.iter().filter_map(Value::as_f64).collect();
            let d: [f64; 3] = d.try_into().map_err(|_| "digest: three numbers")?;
            Ok((path.to_string(), d))
        })
        .collect::<Result<_, BoxError>>()?;
    Ok(Step {
        batch: uints(s, "batch")?,
        loss: num(s, "loss")?,
        modules,
    })
}

impl Trace {
    /// Reads `dir/trace.json` (or the file itself when `path` is `trace.json`).
    pub fn load(path: impl AsRef<Path>) -> Result<Trace, BoxError> {
        let path = path.as_ref();
        let (dir, file) = if path.is_dir() {
            (path.to_path_buf(), path.join("trace.json"))
        } else {
            let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
            (dir, path.to_path_buf())
        };
        let text_of = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let v: Value = serde_json::from_str(&text_of)?;
        let size = uints(&v, "image_size")?;
        let schedule = field(&v, "schedule")?;
        let perturb = match field(&v, "perturb")? {
            Value::Null => None,
            p => Some((uint(field(p, "step")?)?, text(p, "module")?)),
        };
        let steps = field(&v, "trace")?.as_array().ok_or("trace: a list")?;
        Ok(Trace {
            dir,
            model: text(&v, "model")?,
            dtype: text(&v, "dtype")?,
            image_size: [size[0], size[1]],
            downsample: uint(field(&v, "downsample")?)?,
            optimizer: parse_optimizer(field(&v, "optimizer")?)?,
            one_cycle: match text(schedule, "name")?.as_str() {
                "onecycle" => Some(uint(field(schedule, "total_steps")?)? as u64),
                _ => None,
            },
            steps: steps.iter().map(parse_step).collect::<Result<_, _>>()?,
            param_steps: uints(&v, "param_steps")?,
            outputs_at: uints(&v, "outputs_at")?,
            command: text(&v, "command")?,
            perturb,
        })
    }

    /// A state_dict file of the trace (`init`, `params` or `outputs`), or `None` if absent.
    pub fn tensors<T: Float>(&self, name: &str) -> Result<Option<StateDict<T>>, BoxError> {
        let path = self.dir.join(format!("{name}.safetensors"));
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(load_safetensors::<T>(&path)?))
    }

    /// The command that records this run again with the full module outputs of `step`.
    pub fn rerecord_command(&self, step: usize) -> String {
        format!(
            "~/torch-venv/bin/python {} --outputs-at {step}",
            self.command
        )
    }
}

/// Images and labels of the samples `indices` of the embedded MNIST training digits,
/// normalised exactly as the recorder does: `(pixel / 255 - 0.1307) / 0.3081` in `f64`,
/// then the mean of each `downsample`² block (summed row by row, divided once), then `T`.
pub fn batch<T: Float>(
    data: &Mnist,
    indices: &[usize],
    downsample: usize,
) -> Result<(Tensor<T>, Vec<usize>), BoxError> {
    let [h, w] = data.image_size();
    let (oh, ow) = (h / downsample, w / downsample);
    let norm = data.normalize();
    let mut pixels = Vec::with_capacity(indices.len() * oh * ow);
    let mut labels = Vec::with_capacity(indices.len());
    for &j in indices {
        let image = data
            .image(j)
            .ok_or_else(|| format!("sample {j} is out of range"))?;
        for i in 0..oh {
            for k in 0..ow {
                let mut acc = 0.0;
                for di in 0..downsample {
                    for dk in 0..downsample {
                        acc += norm.apply(image[(i * downsample + di) * w + k * downsample + dk]);
                    }
                }
                pixels.push(T::of(acc / (downsample * downsample) as f64));
            }
        }
        labels.push(usize::from(data.labels()[j]));
    }
    let images = Tensor::from_vec(pixels, &[indices.len(), 1, oh, ow])?;
    Ok((images, labels))
}
