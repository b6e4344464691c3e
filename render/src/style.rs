//! How each element is drawn: its colour (by lifecycle state, or by a layer such as phase or
//! risk with its own palette) and its visibility (from its lifecycle state and from what the
//! user hid in the spatial tree). The result is one RGBA texel per element, which is all the
//! renderer uploads when anything here changes: geometry is never sent again.

use renewtwin_protocol::LifecycleState;

use crate::scene::Visibility;

/// Drawn for elements a layer says nothing about.
pub const NO_DATA_RGB: [u8; 3] = [176, 176, 176];
/// A layer's "no value" byte (any byte past the palette reads the same).
#[cfg(test)]
pub const NO_VALUE: u8 = 255;

/// A colour layer: a category per element and the colour of each category.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Category index per element, [`NO_VALUE`] where there is none.
    pub values: Vec<u8>,
    /// Colour of each category.
    pub palette: Vec<[u8; 3]>,
}

/// Everything that decides the texels besides the states.
#[derive(Debug, Clone, Default)]
pub struct Style {
    /// Colour by this layer instead of the lifecycle state.
    pub layer: Option<Layer>,
    /// Elements the user hid (tree show/hide/isolate); empty: none.
    pub hidden: Vec<bool>,
}

impl Style {
    /// The RGBA texel of element `id` in `state`.
    pub fn texel(&self, id: usize, state: LifecycleState) -> [u8; 4] {
        let [r, g, b] = match &self.layer {
            None => state.rgb(),
            Some(layer) => layer
                .values
                .get(id)
                .and_then(|&v| layer.palette.get(usize::from(v)))
                .copied()
                .unwrap_or(NO_DATA_RGB),
        };
        let alpha = if self.hidden.get(id).copied().unwrap_or(false) { 0 } else { Visibility::of(state).alpha() };
        [r, g, b, alpha]
    }

    /// Texels of every element, `width * rows * 4` bytes (the texture's full size).
    pub fn texels(&self, states: &[LifecycleState], texture_len: usize) -> Vec<u8> {
        let mut texels = vec![0u8; texture_len.max(states.len() * 4)];
        for (id, state) in states.iter().enumerate() {
            texels[id * 4..id * 4 + 4].copy_from_slice(&self.texel(id, *state));
        }
        texels
    }
}

/// Decodes `/api/states` bytes (indices into [`LifecycleState::ALL`]); unknown bytes read as
/// `Existing`.
pub fn states_from_bytes(bytes: &[u8]) -> Vec<LifecycleState> {
    bytes.iter().map(|&b| LifecycleState::ALL.get(usize::from(b)).copied().unwrap_or(LifecycleState::Existing)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_colours_and_visibility_by_default() {
        let style = Style::default();
        assert_eq!(style.texel(0, LifecycleState::UnderConstruction), [230, 159, 0, 255]);
        assert_eq!(style.texel(0, LifecycleState::Planned)[3], 128);
        assert_eq!(style.texel(0, LifecycleState::Demolished)[3], 0);
    }

    #[test]
    fn a_layer_recolours_without_changing_visibility_and_hidden_elements_vanish() {
        let style = Style {
            layer: Some(Layer { values: vec![1, NO_VALUE], palette: vec![[1, 2, 3], [9, 8, 7]] }),
            hidden: vec![false, true],
        };
        assert_eq!(style.texel(0, LifecycleState::Planned), [9, 8, 7, 128]);
        assert_eq!(style.texel(1, LifecycleState::Existing), [176, 176, 176, 0]);
    }

    #[test]
    fn state_bytes_decode_in_protocol_order() {
        let states = states_from_bytes(&[0, 2, 6, 200]);
        assert_eq!(
            states,
            vec![LifecycleState::Existing, LifecycleState::UnderConstruction, LifecycleState::Demolished, LifecycleState::Existing]
        );
    }

    #[test]
    fn texels_fill_the_whole_texture() {
        let texels = Style::default().texels(&[LifecycleState::Existing; 3], 64);
        assert_eq!(texels.len(), 64);
        assert_eq!(texels[12..16], [0, 0, 0, 0]);
    }
}
