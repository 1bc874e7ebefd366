//! Step 1 of the tutorial: tensors. Creating them, shapes, broadcasting, reductions, matrix
//! products, reshape/permute, and errors as values. No gradients yet: that is step 2.
//!
//! Run with `cargo run --release --example 01_tensors`. It prints:
//!
//! ```text
//! a =
//! [[1, 2, 3],
//!  [4, 5, 6]]
//! a: shape [2, 3], 2 dims, 6 elements
//! zeros [2, 2]: [0.0, 0.0, 0.0, 0.0]
//! arange(0, 5): [0.0, 1.0, 2.0, 3.0, 4.0]
//! randn, seed 0: [0.7, -0.1441, 0.3029]
//! a + [10, 20, 30] = [11.0, 22.0, 33.0, 14.0, 25.0, 36.0] (shape [2, 3])
//! [2, 1] * [1, 3] = [1.0, 2.0, 3.0, 2.0, 4.0, 6.0] (shape [2, 3])
//! sum of all: 21
//! sum over dim 0: [5.0, 7.0, 9.0] (shape [3])
//! sum over dim 1, keepdim: [6.0, 15.0] (shape [2, 1])
//! mean over dim 1: [2.0, 5.0]
//! max over dim 1: [3.0, 6.0], argmax: [2, 2]
//! a @ aᵀ = [14.0, 32.0, 32.0, 77.0] (shape [2, 2])
//! batch [5, 2, 3] @ [3, 4] -> [5, 2, 4]
//! reshape [2, 3] -> [3, -1]: shape [3, 2], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
//! transpose: shape [3, 2], [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
//! NCHW [8, 3, 28, 28] -> NHWC [8, 28, 28, 3]
//! flatten(1, -1) of [8, 3, 28, 28]: [8, 2352]
//! error: add: shapes [2, 3] and [4] cannot be broadcast together
//! error: matmul: cannot multiply shapes [2, 3] and [2, 3]
//! error: reshape: shape [4, 2] is invalid for input of size 6 (input shape [2, 3])
//! the failing op was 'add'
//! ```

use ferrite::prelude::*;
use ferrite::tensor::broadcast_shapes;

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = creating_tensors()?;
    broadcasting(&a)?;
    reductions(&a)?;
    matrix_products(&a)?;
    reshape_and_permute(&a)?;
    errors_are_values(&a)
}

/// Creating tensors; returns the `[2, 3]` tensor `a` that the later sections use.
fn creating_tensors() -> Result<Tensor<f32>, Box<dyn std::error::Error>> {
    // --- Creating tensors -------------------------------------------------------------
    // A Tensor is an n-dimensional array of f32 (the default) or f64, stored row-major:
    // the last index moves fastest. `from_vec` checks that the data fills the shape.
    let a = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    println!("a =\n{a}");
    println!(
        "a: shape {:?}, {} dims, {} elements",
        a.shape(),
        a.ndim(),
        a.numel()
    );
    println!("zeros [2, 2]: {:?}", Tensor::<f32>::zeros(&[2, 2]).to_vec());
    println!(
        "arange(0, 5): {:?}",
        Tensor::<f32>::arange(0.0, 5.0, 1.0)?.to_vec()
    );
    // Random tensors come from a seeded generator: the same seed gives the same numbers on
    // every machine (torch.manual_seed, but explicit).
    let noise = Tensor::<f32>::randn(&[3], &mut seeded_rng(0));
    let rounded: Vec<f32> = noise
        .to_vec()
        .iter()
        .map(|v| (v * 1e4).round() / 1e4)
        .collect();
    println!("randn, seed 0: {rounded:?}");
    Ok(a)
}

fn broadcasting(a: &Tensor<f32>) -> Result<(), Box<dyn std::error::Error>> {
    // --- Broadcasting -----------------------------------------------------------------
    // NumPy's rules, as in PyTorch: align shapes on the right; a dim of size 1 (or a
    // missing dim) is stretched to match the other operand.
    let row = Tensor::<f32>::from_vec(vec![10.0, 20.0, 30.0], &[3])?;
    let c = a.add(&row)?; // [2, 3] + [3] -> [2, 3]: the row is added to every row of a
    println!(
        "a + [10, 20, 30] = {:?} (shape {:?})",
        c.to_vec(),
        c.shape()
    );
    let col = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2, 1])?;
    let row = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0], &[1, 3])?;
    let outer = col.mul(&row)?; // [2, 1] * [1, 3] -> [2, 3]: an outer product
    println!(
        "[2, 1] * [1, 3] = {:?} (shape {:?})",
        outer.to_vec(),
        outer.shape()
    );
    // The rule on its own: which shape two shapes broadcast to, if any.
    assert_eq!(broadcast_shapes(&[2, 1], &[1, 3]), Some(vec![2, 3]));
    assert_eq!(broadcast_shapes(&[2, 3], &[4]), None);
    Ok(())
}

fn reductions(a: &Tensor<f32>) -> Result<(), Box<dyn std::error::Error>> {
    // --- Reductions -------------------------------------------------------------------
    // `dims` lists the dims to reduce (negative counts from the end, empty means all);
    // `keepdim` keeps them with size 1, handy for broadcasting the result back.
    println!("sum of all: {}", a.sum_all().item()?);
    let s0 = a.sum(&[0], false)?;
    println!("sum over dim 0: {:?} (shape {:?})", s0.to_vec(), s0.shape());
    let s1 = a.sum(&[1], true)?;
    println!(
        "sum over dim 1, keepdim: {:?} (shape {:?})",
        s1.to_vec(),
        s1.shape()
    );
    println!("mean over dim 1: {:?}", a.mean(&[-1], false)?.to_vec());
    let argmax = a.argmax(1, false)?.to_vec();
    println!(
        "max over dim 1: {:?}, argmax: {argmax:?}",
        a.amax(&[1], false)?.to_vec()
    );
    Ok(())
}

fn matrix_products(a: &Tensor<f32>) -> Result<(), Box<dyn std::error::Error>> {
    // --- Matrix products --------------------------------------------------------------
    // `matmul` as torch.matmul for ranks 1 to 3: [n, k] @ [k, m] -> [n, m], and batches.
    let gram = a.matmul(&a.transpose(0, 1)?)?; // [2, 3] @ [3, 2]
    println!("a @ aᵀ = {:?} (shape {:?})", gram.to_vec(), gram.shape());
    let batch = Tensor::<f32>::ones(&[5, 2, 3]);
    let w = Tensor::<f32>::ones(&[3, 4]);
    println!(
        "batch [5, 2, 3] @ [3, 4] -> {:?}",
        batch.matmul(&w)?.shape()
    );
    Ok(())
}

fn reshape_and_permute(a: &Tensor<f32>) -> Result<(), Box<dyn std::error::Error>> {
    // --- Reshape, transpose, permute, flatten -----------------------------------------
    // Reshape keeps the row-major order of the elements; transpose/permute reorder the dims
    // (and so the order in which the elements are read).
    let r = a.reshape(&[3, -1])?; // -1: "whatever makes the count right"
    println!(
        "reshape [2, 3] -> [3, -1]: shape {:?}, {:?}",
        r.shape(),
        r.to_vec()
    );
    let t = a.transpose(0, 1)?;
    println!("transpose: shape {:?}, {:?}", t.shape(), t.to_vec());
    let images = Tensor::<f32>::zeros(&[8, 3, 28, 28]); // a batch of images, N C H W
    println!(
        "NCHW {:?} -> NHWC {:?}",
        images.shape(),
        images.permute(&[0, 2, 3, 1])?.shape()
    );
    println!(
        "flatten(1, -1) of [8, 3, 28, 28]: {:?}",
        images.flatten(1, -1)?.shape()
    );
    Ok(())
}

fn errors_are_values(a: &Tensor<f32>) -> Result<(), Box<dyn std::error::Error>> {
    // --- Errors are values ------------------------------------------------------------
    // Every fallible op returns Result<_, TensorError>; the message names the op and both
    // shapes. (The operators `&a + &b` panic with the same message instead.)
    let wrong = Tensor::<f32>::zeros(&[4]);
    let failures = [
        a.add(&wrong).map(|_| ()),
        a.matmul(a).map(|_| ()),
        a.reshape(&[4, 2]).map(|_| ()),
    ];
    for result in &failures {
        if let Err(e) = result {
            println!("error: {e}");
        }
    }
    // The error is structured: match on it instead of parsing the message.
    match a.add(&wrong) {
        Err(TensorError::Shape { op, .. }) => println!("the failing op was '{op}'"),
        other => return Err(format!("expected a shape error, found {other:?}").into()),
    }
    Ok(())
}
