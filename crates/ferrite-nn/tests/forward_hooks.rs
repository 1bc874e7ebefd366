//! Module forward hooks: they fire on `call` (and so inside containers), see input and
//! output, can replace the output, and go away with their handle.

use std::sync::{Arc, Mutex};

use ferrite_autograd::Var;
use ferrite_nn::{Flatten, Module, ModuleExt, ReLU, Sequential, Tanh};
use ferrite_tensor::Tensor;

#[test]
fn hooks_fire_for_their_own_module_only_and_can_replace_outputs() {
    let inner = Sequential::<f64>::new().append(Flatten::new()).append(Tanh);
    let model = Sequential::<f64>::new()
        .append(Flatten::new().with_start_dim(2))
        .append(inner)
        .append(ReLU);
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&log);
    let children = model.children();
    let first = children[0]
        .1
        .register_forward_hook(move |x, y| {
            seen.lock().unwrap().push((x.shape(), y.shape()));
            Ok(None)
        })
        .unwrap();
    // A hook deep inside a nested container, replacing the output with its negation.
    let nested = children[1].1.children()[0]
        .1
        .register_forward_hook(|_, y| Ok(Some(y.neg()?)))
        .unwrap();
    let x = Var::new(Tensor::<f64>::ones(&[2, 3, 2, 2]));
    let y = model.forward(&x).unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        vec![(vec![2, 3, 2, 2], vec![2, 3, 4])]
    );
    assert!(y.value().to_vec().iter().all(|&v| v == 0.0)); // relu(tanh(-1)) = 0
    nested.remove();
    first.remove();
    let y = model.forward(&x).unwrap();
    assert!(y.value().to_vec().iter().all(|&v| v > 0.7)); // tanh(1)
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[test]
fn zero_sized_modules_refuse_hooks_with_a_reason() {
    let e = Tanh
        .register_forward_hook(|_, _: &Var<f32>| Ok(None))
        .unwrap_err();
    assert!(e.to_string().contains("Tanh is zero-sized"), "{e}");
}

#[test]
fn a_failing_hook_fails_the_forward() {
    let flatten = Flatten::new().with_start_dim(0);
    let handle = flatten
        .register_forward_hook(|_, _: &Var<f32>| {
            Err(ferrite_tensor::TensorError::invalid("my_hook", "refused"))
        })
        .unwrap();
    let e = flatten
        .call(&Var::new(Tensor::<f32>::ones(&[2])))
        .unwrap_err();
    assert!(e.to_string().contains("my_hook"));
    // `forward` itself never runs hooks.
    assert!(
        flatten
            .forward(&Var::new(Tensor::<f32>::ones(&[2])))
            .is_ok()
    );
    handle.remove();
    assert!(flatten.call(&Var::new(Tensor::<f32>::ones(&[2]))).is_ok());
}

/// A module struct and its first field live at the same address: a hook on one must not
/// fire for the other (found by the parity tool on a ResNet block whose first field is
/// its first convolution).
#[test]
fn a_struct_and_its_first_field_have_separate_hooks() {
    #[repr(C)]
    struct Block {
        first: Flatten,
        second: Flatten,
    }
    impl Module<f64> for Block {
        fn forward(&self, x: &Var<f64>) -> ferrite_tensor::Result<Var<f64>> {
            self.second.call(&self.first.call(x)?)
        }
        fn children(&self) -> Vec<(String, &dyn Module<f64>)> {
            vec![
                ("first".into(), &self.first),
                ("second".into(), &self.second),
            ]
        }
    }
    let block = Block {
        first: Flatten::new().with_start_dim(0),
        second: Flatten::new().with_start_dim(0),
    };
    assert_eq!(
        &block as *const Block as usize,
        &block.first as *const Flatten as usize
    );
    let log = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (Arc::clone(&log), Arc::clone(&log));
    let outer = block
        .register_forward_hook(move |_, _: &Var<f64>| {
            a.lock().unwrap().push("block");
            Ok(None)
        })
        .unwrap();
    let inner = block
        .first
        .register_forward_hook(move |_, _: &Var<f64>| {
            b.lock().unwrap().push("first");
            Ok(None)
        })
        .unwrap();
    block.call(&Var::new(Tensor::<f64>::ones(&[2, 2]))).unwrap();
    assert_eq!(*log.lock().unwrap(), ["first", "block"]);
    outer.remove();
    inner.remove();
}
