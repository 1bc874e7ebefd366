//! [`summary`]: a torchinfo-style table of a model's layers, output shapes, parameter counts
//! and multiply-adds, computed by running one input of the given shape through it.

use std::fmt;

use ferrite_autograd::{Var, no_grad};
use ferrite_tensor::{Float, Result, Tensor};

use crate::Module;

/// One row of a [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// Dotted name (`conv1`), or the type for an unnamed top-level module.
    pub name: String,
    /// Layer type (`Conv2d`).
    pub kind: String,
    /// The layer's one-line description with its settings.
    pub description: String,
    /// Output shape for the summarised input.
    pub output_shape: Vec<usize>,
    /// Parameters held by this layer.
    pub params: usize,
    /// Multiply-adds for the summarised input (the whole batch).
    pub multiply_adds: u64,
}

/// The table printed by [`summary`]; `Display` formats it like torchinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The input shape the model was run on.
    pub input_shape: Vec<usize>,
    /// One row per leaf layer, in order of application.
    pub rows: Vec<SummaryRow>,
    /// All parameters of the model.
    pub total_params: usize,
    /// Sum of the rows' multiply-adds.
    pub total_multiply_adds: u64,
}

/// Runs a zero input of `input_shape` through `model` (without recording a graph) and lists
/// each layer with its output shape, parameter count and multiply-adds. A [`Sequential`]
/// is listed layer by layer; any other module with children appears as one row.
///
/// [`Sequential`]: crate::Sequential
///
/// # Errors
/// When the model refuses an input of that shape (the layer's own error).
///
/// ```
/// use ferrite_nn::{Conv2d, Conv2dConfig, Flatten, Linear, ReLU, Sequential, summary};
/// use ferrite_tensor::seeded_rng;
/// let mut rng = seeded_rng(0);
/// let model = Sequential::<f32>::new()
///     .add_module("conv1", Conv2d::new(Conv2dConfig::new(1, 1, 3).with_stride(2), &mut rng)?)
///     .append(ReLU)
///     .add_module("flatten", Flatten::default())
///     .add_module("fc", Linear::new(16, 2, &mut rng));
/// let s = summary(&model, &[1, 1, 9, 9])?;
/// assert_eq!(s.rows[0].output_shape, vec![1, 1, 4, 4]); // (9 - 3) / 2 + 1 = 4
/// assert_eq!(s.total_params, 10 + 34);
/// assert_eq!(s.rows[0].multiply_adds, 16 * 9);
/// println!("{s}");
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn summary<T: Float, M: Module<T> + ?Sized>(
    model: &M,
    input_shape: &[usize],
) -> Result<Summary> {
    let mut rows = Vec::new();
    let input = Var::new(Tensor::<T>::zeros(input_shape));
    no_grad(|| visit(model, None, &input, &mut rows))?;
    let total_multiply_adds = rows.iter().map(|r| r.multiply_adds).sum();
    Ok(Summary {
        input_shape: input_shape.to_vec(),
        rows,
        total_params: model.num_parameters(),
        total_multiply_adds,
    })
}

fn visit<T: Float, M: Module<T> + ?Sized>(
    module: &M,
    name: Option<&str>,
    input: &Var<T>,
    rows: &mut Vec<SummaryRow>,
) -> Result<Var<T>> {
    if module.type_name() == "Sequential" {
        let mut x = input.clone();
        for (child_name, child) in module.children() {
            let full = match name {
                Some(prefix) => format!("{prefix}.{child_name}"),
                None => child_name,
            };
            x = visit(child, Some(&full), &x, rows)?;
        }
        return Ok(x);
    }
    let out = module.forward(input)?;
    let shape = out.shape();
    rows.push(SummaryRow {
        name: name.unwrap_or(module.type_name()).to_string(),
        kind: module.type_name().to_string(),
        description: module.describe(),
        params: module.num_parameters(),
        multiply_adds: module.multiply_adds(&shape),
        output_shape: shape,
    });
    Ok(out)
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = "=".repeat(78);
        writeln!(f, "{line}")?;
        writeln!(
            f,
            "{:<28}{:<22}{:>12}{:>16}",
            "Layer (type)", "Output Shape", "Param #", "Mult-Adds"
        )?;
        writeln!(f, "{line}")?;
        writeln!(f, "{:<28}{:?}", "input", self.input_shape)?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<28}{:<22}{:>12}{:>16}",
                format!("{} ({})", r.name, r.kind),
                format!("{:?}", r.output_shape),
                thousands(r.params as u64),
                thousands(r.multiply_adds)
            )?;
        }
        writeln!(f, "{line}")?;
        writeln!(f, "Total params: {}", thousands(self.total_params as u64))?;
        writeln!(
            f,
            "Total mult-adds: {}",
            thousands(self.total_multiply_adds)
        )?;
        write!(f, "{line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
