"""Atomic models: nanoparticles, graphene, orientation and assembly on supports."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "columns": ["Columns", "projected_columns"],
        "facets": ["FAMILIES", "Facets", "column_facets", "crystal_rotation", "facet_directions"],
        "graphene": ["graphene_sheet", "polycrystalline_graphene", "random_graphene"],
        "nanoparticles": ["random_particle", "wulff_particle"],
        "orient": ["center", "orient", "orthogonal_supercell", "place_on_support"],
    },
)
